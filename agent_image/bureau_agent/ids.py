"""OpenAI-looking object ids (``asst_``, ``thread_``, ``msg_``, ``run_``, ``step_``, ``call_``)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))
