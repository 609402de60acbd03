"""``GET /v1/models`` in OpenAI's and Anthropic's shapes, and OpenRouter's richer model list."""

from __future__ import annotations

from typing import Any

CREATED = 1_700_000_000
OPENAI_MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o4-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
]
ANTHROPIC_MODELS = {  # id: (display name, line, max input tokens, max output tokens)
    "claude-sonnet-4-6": ("Claude Sonnet 4.6", "sonnet", 1_000_000, 64_000),
    "claude-opus-4-6": ("Claude Opus 4.6", "opus", 200_000, 32_000),
    "claude-haiku-4-5-20251001": ("Claude Haiku 4.5", "haiku", 200_000, 64_000),
}
OPENROUTER_MODELS = {
    "openai/gpt-4o": ("OpenAI: GPT-4o", 128_000, "0.0000025", "0.00001"),
    "openai/gpt-4o-mini": ("OpenAI: GPT-4o-mini", 128_000, "0.00000015", "0.0000006"),
    "anthropic/claude-sonnet-4.5": (
        "Anthropic: Claude Sonnet 4.5",
        1_000_000,
        "0.000003",
        "0.000015",
    ),
    "meta-llama/llama-3.1-8b-instruct": (
        "Meta: Llama 3.1 8B Instruct",
        131_072,
        "0.00000002",
        "0.00000003",
    ),
}


def openai_model(model_id: str) -> dict[str, Any]:
    owner = "openai" if model_id in OPENAI_MODELS else "system"
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owner}


def openai_models() -> dict[str, Any]:
    return {"object": "list", "data": [openai_model(m) for m in OPENAI_MODELS]}


def anthropic_model(model_id: str) -> dict[str, Any] | None:
    if model_id not in ANTHROPIC_MODELS:
        return None
    name, line, max_input, max_output = ANTHROPIC_MODELS[model_id]
    return {
        "type": "model",
        "id": model_id,
        "display_name": name,
        "created_at": "2026-02-17T00:00:00Z",
        "lifecycle": "active",
        "line": line,
        "max_input_tokens": max_input,
        "max_tokens": max_output,
        "deprecated_at": None,
        "retires_at": None,
    }


def anthropic_models(query: dict[str, str]) -> dict[str, Any]:
    """One page of models, newest first, honouring ``limit``, ``after_id`` and ``before_id``."""
    ids = list(ANTHROPIC_MODELS)
    if query.get("after_id") in ids:
        ids = ids[ids.index(query["after_id"]) + 1 :]
    if query.get("before_id") in ids:
        ids = ids[: ids.index(query["before_id"])]
    limit = int(query["limit"]) if query.get("limit", "").isdigit() else 20
    page = ids[: max(1, min(limit, 1000))]
    data = [m for m in (anthropic_model(i) for i in page) if m]
    return {
        "data": data,
        "has_more": len(ids) > len(page),
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }


def openrouter_models() -> dict[str, Any]:
    """OpenRouter's list: OpenAI's ids plus name, context_length, pricing and more."""
    data = []
    for model_id, (name, context, prompt, completion) in OPENROUTER_MODELS.items():
        data.append(
            {
                "id": model_id,
                "canonical_slug": model_id,
                "name": name,
                "created": CREATED,
                "description": f"{name} (served by the fake provider).",
                "context_length": context,
                "architecture": {
                    "modality": "text->text",
                    "input_modalities": ["text"],
                    "output_modalities": ["text"],
                    "tokenizer": "Other",
                    "instruct_type": None,
                },
                "pricing": {
                    "prompt": prompt,
                    "completion": completion,
                    "request": "0",
                    "image": "0",
                },
                "top_provider": {
                    "context_length": context,
                    "max_completion_tokens": 16_384,
                    "is_moderated": False,
                },
                "per_request_limits": None,
                "supported_parameters": ["tools", "tool_choice", "response_format", "max_tokens"],
            }
        )
    return {"data": data}


def openrouter_key(key: str) -> dict[str, Any]:
    """``GET /api/v1/key``: what OpenRouter says about the calling key."""
    return {
        "data": {
            "label": f"sk-or-...{key[-4:]}",
            "usage": 0,
            "limit": None,
            "is_free_tier": False,
            "limit_remaining": None,
            "rate_limit": {"requests": 100, "interval": "10s"},
        }
    }
