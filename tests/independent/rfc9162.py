"""Independent Merkle proof verifier, written from the specifications.

Used only by the tests, to cross-check ``verify.merkle``. Standard library only.

* RFC 9162 section 2.1.1 (Merkle Tree Hash), 2.1.3.2 (verifying an inclusion
  proof) and 2.1.4.2 (verifying a consistency proof).
* draft-ietf-plants-merkle-tree-certs, section "Subtrees": "Definition of a
  Subtree", "Evaluating/Verifying a Subtree Inclusion Proof" and "Verifying a
  Subtree Consistency Proof" (as implemented by transparency-dev/merkle).

Every public verifier returns True or False and never raises: bad sizes, wrong
hash lengths, a None proof or wrongly typed arguments all give False.

Root hashes are only ever compared for equality, never length-checked; the
published vectors accept a trivial proof between two equal (even malformed)
roots, and never look at the tree root for an empty subtree (see below).
"""

import hashlib

HASH_SIZE = 32  # SHA-256
EMPTY_HASH = hashlib.sha256(b"").digest()  # RFC 9162 2.1.1: MTH({}) = HASH()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 2.1.1: MTH({d}) = HASH(0x00 || d)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    """RFC 9162 2.1.1: interior node = HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_leaves(leaf_hashes: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 MTH over already-hashed leaves, by direct recursion."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_HASH
    if n == 1:
        return bytes(leaf_hashes[0])
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
    return _node(root_from_leaves(leaf_hashes[:k]), root_from_leaves(leaf_hashes[k:]))


# --- argument checks: anything malformed makes the verifier return False ---


def _is_size(*values) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)


def _is_bytes(value) -> bool:
    return isinstance(value, (bytes, bytearray))


def _is_hash(value) -> bool:
    return _is_bytes(value) and len(value) == HASH_SIZE


def _is_proof(proof) -> bool:
    return isinstance(proof, (list, tuple)) and all(_is_hash(p) for p in proof)


def _is_valid_subtree(start: int, end: int) -> bool:
    """MTC draft, "Definition of a Subtree": start <= end and start is a
    multiple of BIT_CEIL(end - start). So [0, x) and [x, x) are always valid."""
    if start > end:
        return False
    bit_ceil = 1 << (end - start - 1).bit_length() if end - start > 1 else 1
    return start % bit_ceil == 0


def _lsb(x: int) -> int:
    return x & 1


# --- RFC 9162 ---


def _root_from_inclusion(entry: bytes, fn: int, sn: int, proof) -> bytes | None:
    """RFC 9162 2.1.3.2 steps 2-5 with fn = leaf index, sn = tree size - 1.
    Returns the computed root, or None if the proof has the wrong length."""
    r = entry
    for p in proof:
        if sn == 0:  # proof too long
            return None
        if _lsb(fn) or fn == sn:
            r = _node(p, r)
            while not _lsb(fn) and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None  # sn != 0: proof too short


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: list[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: verify `proof` that `leaf_hash` is leaf `index` of the
    tree of `tree_size` leaves with root hash `root`."""
    try:
        if not (
            _is_size(index, tree_size)
            and _is_hash(leaf_hash)
            and _is_proof(proof)
            and _is_bytes(root)
        ):
            return False
        if index >= tree_size:  # step 1
            return False
        r = _root_from_inclusion(bytes(leaf_hash), index, tree_size - 1, proof)
        return r is not None and r == bytes(root)
    except Exception:  # never raise on hostile input
        return False


def verify_consistency(
    size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes
) -> bool:
    """RFC 9162 2.1.4.2: verify `proof` that the tree of `size1` leaves with
    root `root1` is a prefix of the tree of `size2` leaves with root `root2`."""
    try:
        if not (
            _is_size(size1, size2) and _is_proof(proof) and _is_bytes(root1) and _is_bytes(root2)
        ):
            return False
        # A consistency proof needs 0 < size1 <= size2 (RFC 9162 2.1.4: PROOF(m, D_n)
        # is defined for 0 < m <= n; a proof from the empty tree proves nothing).
        if size1 == 0 or size1 > size2:
            return False
        if size1 == size2:  # PROOF(n, D_n) is empty; the roots must simply match
            return len(proof) == 0 and bytes(root1) == bytes(root2)
        path = list(proof)
        if not path:  # step 1
            return False
        if size1 & (size1 - 1) == 0:  # step 2: size1 is an exact power of 2
            path.insert(0, bytes(root1))
        fn, sn = size1 - 1, size2 - 1  # step 3
        while _lsb(fn):  # step 4
            fn >>= 1
            sn >>= 1
        fr = sr = bytes(path[0])  # step 5
        for c in path[1:]:  # step 6
            if sn == 0:
                return False
            if _lsb(fn) or fn == sn:
                fr = _node(c, fr)
                sr = _node(c, sr)
                while not _lsb(fn) and fn != 0:
                    fn >>= 1
                    sn >>= 1
            else:
                sr = _node(sr, c)
            fn >>= 1
            sn >>= 1
        return sn == 0 and fr == bytes(root1) and sr == bytes(root2)  # step 7
    except Exception:
        return False


# --- Merkle Tree Certificates draft: subtrees ---


def verify_subtree_inclusion(
    leaf_hash: bytes, index: int, start: int, end: int, proof: list[bytes], subtree_root: bytes
) -> bool:
    """MTC draft, "Evaluating / Verifying a Subtree Inclusion Proof": the RFC 9162
    inclusion proof of entry `index - start` in the tree D[start:end]."""
    try:
        if not (
            _is_size(index, start, end)
            and _is_hash(leaf_hash)
            and _is_proof(proof)
            and _is_bytes(subtree_root)
        ):
            return False
        # Step 1: valid subtree and start <= index < end (so start == end is rejected).
        if not _is_valid_subtree(start, end) or not start <= index < end:
            return False
        r = _root_from_inclusion(bytes(leaf_hash), index - start, end - start - 1, proof)
        return r is not None and r == bytes(subtree_root)
    except Exception:
        return False


def verify_subtree_consistency(
    start: int, end: int, size: int, proof: list[bytes], subtree_root: bytes, root: bytes
) -> bool:
    """MTC draft, "Verifying a Subtree Consistency Proof": verify `proof` that the
    subtree [start, end) with hash `subtree_root` is part of the tree of `size`
    leaves with root hash `root`."""
    try:
        if not (
            _is_size(start, end, size)
            and _is_proof(proof)
            and _is_bytes(subtree_root)
            and _is_bytes(root)
        ):
            return False
        node_hash, root_hash = bytes(subtree_root), bytes(root)
        # Step 1: valid subtree and end <= size (implies 0 <= start <= end <= size).
        if not _is_valid_subtree(start, end) or end > size:
            return False
        # Step 2: an empty subtree needs an empty proof and node_hash == HASH("").
        # root_hash is deliberately not checked.
        if start == end:
            return len(proof) == 0 and node_hash == EMPTY_HASH
        fn, sn, tn = start, end - 1, size - 1  # step 3
        if sn == tn:  # step 4
            while fn != sn:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:  # step 5
            while fn != sn and _lsb(sn):
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        path = list(proof)
        if fn == sn:  # step 6: the subtree's root is a node of the tree
            fr = sr = node_hash
        else:  # step 7: the first proof hash seeds the walk
            if not path:
                return False
            fr = sr = bytes(path.pop(0))
        for c in path:  # step 8
            if tn == 0:
                return False
            if _lsb(sn) or sn == tn:
                if fn < sn:
                    fr = _node(c, fr)
                sr = _node(c, sr)
                while not _lsb(sn):
                    fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
            else:
                sr = _node(sr, c)
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        return tn == 0 and fr == node_hash and sr == root_hash  # step 9
    except Exception:
        return False
