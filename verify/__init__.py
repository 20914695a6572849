"""Offline verification of everything Custody publishes: the standard library, hashlib and
PyNaCl only, so that anyone can read and run it without the service."""
