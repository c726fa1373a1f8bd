"""Signing keys for tests: as long and as varied as the settings require of a real one
(`secrets.token_urlsafe(32)`), but fixed, so a failing test can be read and rerun."""

from __future__ import annotations

TEST_SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
# A second key, for rotations: the next secret_key, with TEST_SECRET_KEY moved to the old ones.
NEXT_SECRET_KEY = "next-secret-key-ZYXWVUTSRQPONMLKJIHGFEDCBA-9876543210"
