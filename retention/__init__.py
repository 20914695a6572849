"""Retention: scheduled deletion, erasure cascade, deletion certificates."""
