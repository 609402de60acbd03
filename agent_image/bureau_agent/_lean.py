"""Imported first by the command line: keeps libraries' unused extras out of the agent's start.

httpx imports its own command line (``httpx._main``) when it is imported, and that pulls in rich,
pygments and click's formatting: ~0.5 s of a desk's boot under TCG, for a command the agent never
runs. httpx falls back to a stub ``httpx.main`` when that module cannot be imported; a ``None``
entry in ``sys.modules`` makes the import fail. Does nothing if httpx's CLI is already loaded.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
