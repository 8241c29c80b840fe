"""Responses that stay open without a thread: views that wait, the in-memory log, the database listener, caps."""
