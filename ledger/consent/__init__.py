"""Consent: the vocabulary, policies, consents and their signed receipts."""
