"""Proofs assembled from stored complete nodes agree with the independent verifier."""

from tests.independent import rfc9162
from verify import merkle


def build(size: int):  # type: ignore[no-untyped-def]
    leaves = [merkle.leaf_hash(f"entry {i}".encode()) for i in range(size)]
    store: dict[merkle.NodeId, bytes] = {}
    frontier = merkle.Frontier()
    for leaf in leaves:
        for level, index, digest in frontier.append(leaf):
            assert (level, index) not in store, "a node was written twice"
            store[(level, index)] = digest
    return leaves, store, frontier


def reader(store):  # type: ignore[no-untyped-def]
    def read(ids):  # type: ignore[no-untyped-def]
        return {node: store[node] for node in ids if node in store}

    return read


def test_frontier_root_and_stored_nodes_match_the_rfc_tree():
    leaves, store, frontier = build(70)
    assert frontier.root() == rfc9162.root_from_leaves(leaves)
    # Only complete subtrees are stored: 2n - popcount(n) nodes.
    assert len(store) == 2 * 70 - bin(70).count("1")


def test_proofs_from_stored_nodes_verify_independently():
    leaves, store, _ = build(45)
    read = reader(store)
    for size in range(1, 46):
        root = rfc9162.root_from_leaves(leaves[:size])
        assert merkle.hashes_for_ranges([(0, size)], read) == [root]
        for index in range(size):
            proof = merkle.hashes_for_ranges(merkle.inclusion_ranges(index, size), read)
            assert rfc9162.verify_inclusion(leaves[index], index, size, proof, root)
        for first in range(1, size):
            proof = merkle.hashes_for_ranges(merkle.consistency_ranges(first, size), read)
            first_root = rfc9162.root_from_leaves(leaves[:first])
            assert rfc9162.verify_consistency(first, size, proof, first_root, root)


def test_a_missing_node_is_an_error_not_a_wrong_proof():
    leaves, store, _ = build(8)
    del store[(1, 1)]
    try:
        merkle.hashes_for_ranges(merkle.inclusion_ranges(0, 8), reader(store))
    except LookupError as exc:
        assert "(1, 1)" in str(exc)
    else:
        raise AssertionError("a proof was made without a stored node")
