"""The log: entries, the appender (group commit), reads and proofs, keys and signing."""
