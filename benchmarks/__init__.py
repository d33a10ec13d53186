"""Benchmarks of flask-prodready's per-request cost against bare Flask; see README.md here."""
