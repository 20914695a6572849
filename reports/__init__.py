"""PDF reports for workers and regulators, audit export bundles."""
