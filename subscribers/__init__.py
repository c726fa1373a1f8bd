"""Subscriber records, tokens and import/export."""
