"""An entry type for tests and benchmarks that append arbitrary entries."""

from ledger.log.entries import EntryType, obj, register

TEST_EVENT = register(
    EntryType("test.event", 1, obj({"n": {"type": "integer"}}, {"pad": {"type": "string"}}))
)
