"""The checks every rendered user-data passes before it leaves the renderer.

They guard against mistakes in this package, not against hostile input: the input model already
has no field that could hold a provider key, and the scan below is the second line of defence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import yaml

HEADER = "#cloud-config"

#: Hetzner's limit for user_data; larger documents are sent gzip+base64 (cloud-init decodes both).
MAX_PLAIN_BYTES = 32 * 1024

#: The only top-level keys Bureau's documents may use.
ALLOWED_TOP_LEVEL_KEYS = frozenset(
    {
        "hostname",
        "preserve_hostname",
        "manage_etc_hosts",
        "users",
        "ssh_pwauth",
        "disable_root",
        "ssh_deletekeys",
        "write_files",
        "runcmd",
        "final_message",
    }
)

#: Shapes of provider keys (Anthropic, OpenRouter, OpenAI incl. project keys, Google, generic
#: bearer-looking ``sk-`` tokens). A match anywhere in the document is an error.
KEY_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?<![A-Za-z0-9_-])sk-(?:ant-|or-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"),
    re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{30,}"),
    re.compile(r"\b(?:ASSISTANT|EMBEDDINGS)_API_KEY\b"),
)


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UserDataError(ValueError):
    """The rendered document broke one of Bureau's rules; the message names the rule."""


def find_key_like(text: str) -> str | None:
    """The name of the first key-shaped pattern found in ``text`` (never the match itself)."""
    for pattern in KEY_PATTERNS:
        if pattern.search(text):
            return pattern.pattern
    return None


def check_document(text: str) -> Mapping[str, object]:
    """Parse and check a plain ``#cloud-config`` document; return its data."""
    if not text.startswith(HEADER + "\n"):
        raise UserDataError(f"user-data must start with a {HEADER!r} line")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise UserDataError(f"user-data is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserDataError("user-data must be a YAML mapping")
    unknown = sorted(str(key) for key in data if key not in ALLOWED_TOP_LEVEL_KEYS)
    if unknown:
        raise UserDataError(f"user-data uses top-level keys outside the allow-list: {unknown}")
    shape = find_key_like(text)
    if shape is not None:
        raise UserDataError(
            f"user-data contains a string shaped like a provider key (pattern {shape}); "
            "keys reach a desk only through enrollment"
        )
    return data
