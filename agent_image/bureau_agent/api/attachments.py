"""Message attachments for file_search go into the thread's vector store, as OpenAI does.

A thread without a vector store gets one created from the attached files (it becomes
``tool_resources.file_search.vector_store_ids[0]``); a thread with one gets the files added
through ``services.add_vector_store_files`` (set by the vector stores extension).
code_interpreter attachments need nothing here: the run stages them (``RunManager.tool_context``).
"""

from __future__ import annotations

from typing import Any

from bureau_agent.api.errors import invalid
from bureau_agent.services import Services


def file_search_ids(messages: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    for message in messages:
        for item in message.get("attachments") or []:
            if any(t.get("type") == "file_search" for t in item.get("tools") or []):
                ids.append(item["file_id"])
    return list(dict.fromkeys(ids))


async def attach_to_thread(
    services: Services, thread: dict[str, Any], messages: list[dict[str, Any]]
) -> None:
    file_ids = file_search_ids(messages)
    if not file_ids:
        return
    resources = thread.setdefault("tool_resources", {})
    search = resources.setdefault("file_search", {"vector_store_ids": []})
    stores = search.setdefault("vector_store_ids", [])
    if not stores:
        if services.create_vector_store is None:
            raise invalid("attachments", "file_search attachments are not available on this agent.")
        spec = {"file_ids": file_ids, "name": f"thread {thread['id']}"}
        stores.append(await services.create_vector_store(spec))
        await services.docs.replace("thread", thread)
        return
    if services.add_vector_store_files is None:
        raise invalid("attachments", "This agent cannot add files to the thread's vector store.")
    await services.add_vector_store_files(stores[0], file_ids)
