"""``tool_resources`` of assistants and threads: checked, with inline vector stores created."""

from __future__ import annotations

from typing import Any

from bureau_agent.api import validation as v
from bureau_agent.api.errors import invalid
from bureau_agent.services import Services


async def resolve_tool_resources(services: Services, raw: Any) -> dict[str, Any]:
    """Check the limits and turn ``file_search.vector_stores`` into ``vector_store_ids``.

    Creating a vector store belongs to the vector stores extension: it sets
    ``services.create_vector_store``; without it an inline vector store is refused (400).
    """
    resources = v.check_tool_resources(raw)
    fs = resources.get("file_search")
    if fs and fs.get("vector_stores"):
        create = services.create_vector_store
        if create is None:
            raise invalid(
                "tool_resources.file_search.vector_stores",
                "Creating vector stores inline is not available on this agent.",
            )
        for spec in fs.pop("vector_stores"):
            fs["vector_store_ids"].append(await create(spec))
    elif fs is not None:
        fs.pop("vector_stores", None)
    return resources
