"""The RFC 9162 Merkle tree: hashing, tree geometry, proofs from stored nodes, verification.

Pure functions over hashlib only, so the stand-alone verifier can use them.

Nodes are addressed as (level, index): the node at level `l` and index `i` is the root of
the complete subtree over leaves [i * 2**l, (i + 1) * 2**l). Only complete nodes are ever
stored; they never change once the tree has grown past them. Every subtree that appears in
an RFC 9162 proof is a right-edge range [a, b) whose hash is a right fold of at most
log2(b - a) + 1 complete nodes, so a proof needs a handful of node reads and no rebuild.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
NodeReader = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]


class ProofError(ValueError):
    """A proof, or the sizes and hashes it was checked against, do not verify."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


# --- tree geometry ------------------------------------------------------------------------


def covering_nodes(start: int, end: int) -> list[NodeId]:
    """The complete nodes, largest first, whose right fold is MTH(D[start:end]).

    Valid for the ranges RFC 9162 proofs use: `start` is a multiple of the smallest power
    of two >= end - start.
    """
    nodes: list[NodeId] = []
    pos = start
    remaining = end - start
    for level in range(remaining.bit_length() - 1, -1, -1):
        if remaining & (1 << level):
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of subtree hashes, largest first: H(h0, H(h1, ... H(hn-1, hn)))."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes form PATH(index, D[0:size]) (RFC 9162 2.1.3.1), leaf first."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes form PROOF(first, D[0:second]) (RFC 9162 2.1.4.1)."""
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, second, first, True
    while True:
        if m == end - start:
            if not complete:
                ranges.append((start, end))
            break
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            complete = False
    ranges.reverse()
    return ranges


def hashes_for_ranges(ranges: Sequence[tuple[int, int]], read: NodeReader) -> list[bytes]:
    """Resolve subtree ranges to hashes with a single batched read of complete nodes."""
    wanted = [covering_nodes(a, b) for a, b in ranges]
    found = read(sorted({node for nodes in wanted for node in nodes}))
    try:
        return [fold([found[node] for node in nodes]) for nodes in wanted]
    except KeyError as exc:
        raise LookupError(f"node {exc.args[0]} is not stored") from exc


# --- appending ----------------------------------------------------------------------------


class Frontier:
    """The right edge of a tree: the complete nodes of its decomposition, largest first.

    Appending a leaf merges equal-sized neighbours; every merge yields a new complete node,
    which is what the store must keep.
    """

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(nodes)
        self.ids = covering_nodes(0, size)
        if len(self.ids) != len(self.hashes):
            raise ValueError("frontier does not match tree size")

    @staticmethod
    def ids_for(size: int) -> list[NodeId]:
        return covering_nodes(0, size)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the new complete nodes as (level, index, hash)."""
        new = [(0, self.size, leaf)]
        self.ids.append((0, self.size))
        self.hashes.append(leaf)
        self.size += 1
        while len(self.ids) >= 2 and self.ids[-1][0] == self.ids[-2][0]:
            level, index = self.ids[-2]
            right = self.hashes.pop()
            left = self.hashes.pop()
            self.ids.pop()
            self.ids.pop()
            merged = node_hash(left, right)
            self.ids.append((level + 1, index >> 1))
            self.hashes.append(merged)
            new.append((level + 1, index >> 1, merged))
        return new

    def root(self) -> bytes:
        return fold(self.hashes)

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) -------------------------------------------


def _check_hashes(proof: Sequence[bytes] | None, *hashes: bytes) -> list[bytes]:
    proof = list(proof or [])
    for h in (*hashes, *proof):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofError("every hash must be 32 bytes")
    return proof


def root_from_inclusion_proof(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes] | None
) -> bytes:
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not below tree size {size}")
    path = _check_hashes(proof, leaf)
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes] | None, root: bytes
) -> None:
    if root_from_inclusion_proof(leaf, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes] | None, root1: bytes, root2: bytes
) -> None:
    if first < 0 or second < first:
        raise ProofError(f"sizes {first} and {second} are out of order")
    if first == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if first == second:
        if proof:
            raise ProofError("proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError("roots of equal-sized trees differ")
        return
    path = _check_hashes(proof, root1, root2)
    if not path:
        raise ProofError("proof is empty")
    if first & (first - 1) == 0:  # a power of two: the first tree is itself a node
        path.insert(0, root1)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    if fr != root1:
        raise ProofError("proof does not lead to the first root")
    if sr != root2:
        raise ProofError("proof does not lead to the second root")


# --- subtree proofs (draft-ietf-plants-merkle-tree-certs, "Subtrees") ---------------------


def _bit_ceil(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def is_subtree(start: int, end: int) -> bool:
    """[start, end) is a subtree when start is a multiple of BIT_CEIL(end - start)."""
    return 0 <= start <= end and start % _bit_ceil(end - start) == 0


def verify_subtree_inclusion(
    leaf: bytes,
    index: int,
    start: int,
    end: int,
    proof: Sequence[bytes] | None,
    subtree_root: bytes,
) -> None:
    if not is_subtree(start, end) or not start <= index < end:
        raise ProofError(f"[{start}, {end}) is not a subtree holding index {index}")
    # Inclusion in the subtree is RFC 9162 inclusion in the tree D[start:end].
    if root_from_inclusion_proof(leaf, index - start, end - start, proof) != subtree_root:
        raise ProofError("subtree inclusion proof does not lead to the subtree root")


def verify_subtree_consistency(
    start: int,
    end: int,
    size: int,
    proof: Sequence[bytes] | None,
    subtree_root: bytes,
    root: bytes,
) -> None:
    """Check that the subtree [start, end) with hash `subtree_root` is part of the tree of
    `size` leaves with hash `root`."""
    if not is_subtree(start, end) or end > size:
        raise ProofError(f"[{start}, {end}) is not a subtree of a tree of size {size}")
    path = _check_hashes(proof)
    if start == end:
        if path or subtree_root != EMPTY_ROOT:
            raise ProofError("the empty subtree has the empty hash and an empty proof")
        return
    fn, sn, tn = start, end - 1, size - 1
    if sn == tn:
        while fn != sn:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    else:
        while fn != sn and sn & 1:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if fn == sn:
        fr = sr = subtree_root
    else:
        if not path:
            raise ProofError("proof is empty")
        fr = sr = path.pop(0)
    for c in path:
        if tn == 0:
            raise ProofError("proof is too long")
        if sn & 1 or sn == tn:
            if fn < sn:
                fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not sn & 1:
                fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:
        raise ProofError("proof is too short")
    if fr != subtree_root or sr != root:
        raise ProofError("subtree consistency proof does not lead to the roots")
