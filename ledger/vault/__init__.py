"""The vault: content bytes encrypted under per-worker data keys, on disk or S3."""
