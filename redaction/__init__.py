"""Redaction of faces and backgrounds in clips."""
