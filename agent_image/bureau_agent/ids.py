"""OpenAI-looking object ids (``asst_``, ``thread_``, ``msg_``, ``run_``, ``step_``, ``call_``)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """``prefix_`` and ``length`` base62 characters from one read of the system's CSPRNG."""
    raw = secrets.token_bytes(length * 2)
    chars = [_ALPHABET[b % 62] for b in raw if b < 248][:length]  # 248 = 4 * 62: no modulo bias
    while len(chars) < length:
        chars.append(secrets.choice(_ALPHABET))
    return prefix + "_" + "".join(chars)
