"""Extensions of the agent: files, vector stores, file_search and memory (engineer H5's packages).

``install_extensions`` is called once by ``create_app`` with the services, before the database
opens. It may: ``services.db.add_schema(sql)``, ``services.tools.register(tool)``,
``services.hooks.append(hooks)``, set ``services.files`` (a ``FileResolver``), and return the
routers to mount. Each router is mounted under ``/v1`` and Azure's ``/openai``, behind the agent's
auth. Startup/shutdown work goes in the returned ``on_startup``/``on_shutdown`` callables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import APIRouter

from bureau_agent.services import Services


@dataclass
class Extensions:
    routers: list[APIRouter] = field(default_factory=list)
    """Mounted under /v1 and /openai (the Assistants-compatible surface)."""
    desk_routers: list[APIRouter] = field(default_factory=list)
    """Mounted under /desk/v1 (e.g. ``/desk/v1/memory``)."""
    on_startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def install_extensions(services: Services) -> Extensions:
    """Wire the H5 packages in (H5 edits this function)."""
    from bureau_agent.retrieval.wiring import Retrieval

    retrieval = Retrieval(services)
    routers, desk_routers = retrieval.install()
    return Extensions(
        routers=routers,
        desk_routers=desk_routers,
        on_startup=[retrieval.start],
        on_shutdown=[retrieval.stop],
    )
