"""Bearer tokens: generated with ``secrets``, stored as SHA-256 hashes only.

Tokens carry 256 bits of randomness, so a plain (unsalted) SHA-256 is a safe lookup hash.
API tokens start with ``bur_``; desk bootstrap tokens with ``bt_`` (never ``sk-``: the cloud-init
renderer rejects provider-key-shaped strings).
"""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "bur_"  # noqa: S105 (a prefix, not a secret)
BOOTSTRAP_TOKEN_PREFIX = "bt_"  # noqa: S105


def new_token(prefix: str = API_TOKEN_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
