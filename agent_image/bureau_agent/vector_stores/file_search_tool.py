"""The ``file_search`` tool in runs: searches the run's vector stores, cites what it found.

The model calls it with ``query`` (or ``queries``). Options come from the run's tool entry
(``file_search.max_num_results``, ``ranking_options``) and the stores from the merged
``tool_resources.file_search.vector_store_ids``. Each result gets a marker ``【k:i†filename】``
(OpenAI's form: k = the call's number in the run, i = the result's rank); when the answer
quotes a marker the loop turns it into a ``file_citation`` annotation. The run step shows
``{"type": "file_search", "file_search": {"ranking_options", "results": [...]}}``, each result
with ``content`` (the loop drops ``content`` unless the request asked for it with
``include[]=step_details.tool_calls[*].file_search.results[*].content``).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from bureau_agent.retrieval.errors import InvalidRequest, NotFound
from bureau_agent.tools.base import Citation, Tool, ToolContext, ToolError, ToolResult
from bureau_agent.vector_stores import validation as v
from bureau_agent.vector_stores.service import VectorStoreService

MAX_TRACKED_RUNS = 1000
RESULT_TEXT_LIMIT = 4000


def file_search_tool(stores: VectorStoreService) -> Tool:
    calls: OrderedDict[str, int] = OrderedDict()

    def next_call(run_id: str) -> int:
        number = calls.pop(run_id, -1) + 1
        calls[run_id] = number
        while len(calls) > MAX_TRACKED_RUNS:
            calls.popitem(last=False)
        return number

    async def invoke(args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        raw = args.get("queries") or args.get("query")
        try:
            queries = v.queries(raw)
        except InvalidRequest as exc:
            raise ToolError(f"give a non-empty 'query' ({exc.message})") from None
        options = (ctx.tool_config or {}).get("file_search") or {}
        try:
            limit = v.max_num_results(options.get("max_num_results"))
            ranker, threshold = v.ranking_options(options.get("ranking_options"))
        except InvalidRequest as exc:
            raise ToolError(exc.message) from None
        resources = (ctx.tool_resources or {}).get("file_search") or {}
        store_ids = [s for s in resources.get("vector_store_ids") or [] if isinstance(s, str)]
        ranking = {"ranker": ranker, "score_threshold": threshold}
        if not store_ids:
            return ToolResult(
                "No vector store is attached to this assistant or thread, so there is nothing "
                "to search.",
                step_details=_details(ranking, []),
            )
        try:
            outcome = await stores.run_search(store_ids, queries, limit, threshold, ranker)
        except (NotFound, InvalidRequest) as exc:
            raise ToolError(exc.message) from None
        names = await stores.filenames({r.file_id for r in outcome.results})
        k = next_call(ctx.run_id)
        results, citations, blocks = [], [], []
        for i, r in enumerate(outcome.results):
            filename = names.get(r.file_id, r.file_id)
            marker = f"【{k}:{i}†{filename}】"
            citations.append(Citation(marker=marker, file_id=r.file_id))
            results.append(
                {
                    "file_id": r.file_id,
                    "file_name": filename,
                    "score": r.score,
                    "attributes": json.loads(r.attributes),
                    "content": [{"type": "text", "text": r.text}],
                }
            )
            blocks.append(f"{marker} (score {r.score:.2f})\n{r.text[:RESULT_TEXT_LIMIT]}")
        if not blocks:
            text = f"No results for {queries!r} in the attached files."
        else:
            text = (
                f"{len(blocks)} results for {queries!r} ({outcome.mode.replace('_', '-')} search). "
                "When you use a result, cite it by copying its marker, e.g. "
                f"{citations[0].marker}, right after the sentence it supports.\n\n"
                + "\n\n".join(blocks)
            )
        return ToolResult(text, step_details=_details(ranking, results), citations=citations)

    return Tool(
        name="file_search",
        description=(
            "Search the files attached to this assistant or thread (their vector stores) and "
            "return the most relevant passages with citation markers."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for."},
                "queries": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Several phrasings searched in parallel (optional).",
                },
            },
            "required": ["query"],
        },
        invoke=invoke,
        always_on=False,
        assistant_type="file_search",
    )


def _details(ranking: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "file_search", "file_search": {"ranking_options": ranking, "results": results}}
