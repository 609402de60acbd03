"""OpenAI list pagination: ``limit`` 1..100 (20), ``order`` asc|desc (desc), ``after``/``before``.

Routes declare ``page: PageDep`` and answer ``ListPage(...).body()``. ``after``/``before`` are
object ids; the store resolves them to positions (``DocumentStore.list_page``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query

from bureau_agent.api.errors import invalid


@dataclass(frozen=True)
class PageParams:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


def page_params(
    limit: Annotated[str | None, Query()] = None,
    order: Annotated[str | None, Query()] = None,
    after: Annotated[str | None, Query()] = None,
    before: Annotated[str | None, Query()] = None,
) -> PageParams:
    """Parse and check the list query parameters (400 with ``param`` on a bad one)."""
    value = 20
    if limit is not None:
        try:
            value = int(limit)
        except ValueError:
            message = f"Invalid 'limit': expected an integer, got '{limit}'."
            raise invalid("limit", message) from None
        if not 1 <= value <= 100:
            raise invalid("limit", f"Invalid 'limit': {value}. Expected a value between 1 and 100.")
    if order is not None and order not in ("asc", "desc"):
        raise invalid("order", f"Invalid 'order': '{order}'. Expected 'asc' or 'desc'.")
    return PageParams(
        limit=value,
        order="asc" if order == "asc" else "desc",
        after=after or None,
        before=before or None,
    )


PageDep = Annotated[PageParams, Depends(page_params)]


@dataclass
class ListPage:
    data: list[dict[str, Any]]
    has_more: bool

    def body(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": self.data,
            "first_id": self.data[0]["id"] if self.data else None,
            "last_id": self.data[-1]["id"] if self.data else None,
            "has_more": self.has_more,
        }
