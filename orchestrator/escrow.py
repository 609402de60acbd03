"""The key escrow: a desk's provider key(s), in process memory only, until the agent enrolls.

Values are held as ``bytearray`` so ``take`` and expiry can overwrite them with zeros; single use
(``take`` removes the entry); each entry expires after a TTL. Nothing here is ever written to disk:
after a restart the escrow is empty and the desk goes to ``awaiting_key`` at enrollment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def _zero(buffer: bytearray) -> None:
    for index in range(len(buffer)):
        buffer[index] = 0


@dataclass
class _Entry:
    secrets: dict[str, bytearray]
    expires_at: float


@dataclass
class Escrow:
    """Thread-safe in-memory escrow keyed by desk id; each entry maps a slot name to a secret."""

    ttl_seconds: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, desk_id: str, secrets: dict[str, str]) -> None:
        """Hold ``secrets`` (slot -> value, e.g. ``{"provider": "sk-..."}``) for ``desk_id``."""
        entry = _Entry(
            {slot: bytearray(value.encode()) for slot, value in secrets.items()},
            self.clock() + self.ttl_seconds,
        )
        with self._lock:
            old = self._entries.pop(desk_id, None)
            self._entries[desk_id] = entry
        if old is not None:
            self._wipe(old)

    def take(self, desk_id: str) -> dict[str, str] | None:
        """Remove and return the desk's secrets (None when absent or expired); zero the buffers."""
        with self._lock:
            entry = self._entries.pop(desk_id, None)
        if entry is None:
            return None
        try:
            if entry.expires_at <= self.clock():
                return None
            return {slot: bytes(value).decode() for slot, value in entry.secrets.items()}
        finally:
            self._wipe(entry)

    def holds(self, desk_id: str) -> bool:
        with self._lock:
            entry = self._entries.get(desk_id)
            return entry is not None and entry.expires_at > self.clock()

    def discard(self, desk_id: str) -> None:
        with self._lock:
            entry = self._entries.pop(desk_id, None)
        if entry is not None:
            self._wipe(entry)

    def purge_expired(self) -> int:
        now = self.clock()
        with self._lock:
            expired = [k for k, e in self._entries.items() if e.expires_at <= now]
            entries = [self._entries.pop(k) for k in expired]
        for entry in entries:
            self._wipe(entry)
        return len(entries)

    def values(self) -> list[str]:
        """Every secret held now (for the log redaction filter)."""
        with self._lock:
            buffers = [v for e in self._entries.values() for v in e.secrets.values()]
        return [bytes(b).decode(errors="ignore") for b in buffers if any(b)]

    @staticmethod
    def _wipe(entry: _Entry) -> None:
        for value in entry.secrets.values():
            _zero(value)
