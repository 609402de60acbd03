"""OpenAI's ``POST /v1/embeddings``: deterministic vectors that behave like real ones for search.

Feature hashing of a bag of words: each lower-cased word token is hashed (blake2b) to a bucket and
a sign, counts are summed and the vector is L2-normalised. Texts that share words get a high cosine
similarity, unrelated texts a near-zero one, and the same text always gets the same vector.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from typing import Any

from starlette.responses import JSONResponse, Response

from tests.fakes.provider_errors import RequestError, openai_error
from tests.fakes.provider_replies import Error
from tests.fakes.provider_script import count_words

MODEL_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
DEFAULT_DIMENSIONS = 1536
MAX_DIMENSIONS = 16_384
WORD = re.compile(r"\w+")


def model_dimensions(model: str) -> int:
    """The model's native size: known names, a ``-<N>`` suffix, else 1536."""
    base = model.rsplit("/", 1)[-1]
    if base in MODEL_DIMENSIONS:
        return MODEL_DIMENSIONS[base]
    suffix = re.search(r"-(\d+)$", base)
    if suffix and 0 < int(suffix.group(1)) <= MAX_DIMENSIONS:
        return int(suffix.group(1))
    return DEFAULT_DIMENSIONS


def embed(text: str, dimensions: int) -> list[float]:
    """The L2-normalised signed feature-hash of the text's lower-cased word tokens."""
    vector = [0.0] * dimensions
    tokens = WORD.findall(text.lower()) or [text.strip().lower() or "<empty>"]
    for token in tokens:
        digest = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")
        vector[digest % dimensions] += 1.0 if (digest >> 63) & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def _inputs(value: Any) -> list[str]:
    """``input`` as texts: a string, strings, a token array or token arrays (ids become words)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise RequestError(400, "'$.input' is invalid. Please check the API reference.", "input")
    if all(isinstance(v, int) for v in value):
        value = [value]
    texts = []
    for item in value:
        if isinstance(item, str) and item:
            texts.append(item)
        elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
            texts.append(" ".join(f"t{t}" for t in item))
        else:
            raise RequestError(
                400, "'$.input' is invalid. Please check the API reference.", "input"
            )
    if len(texts) > 2048:
        raise RequestError(400, "'$.input' must have at most 2048 items.", "input")
    return texts


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def create_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """The embeddings response body; raises ``RequestError`` for invalid parameters."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "you must provide a model parameter", "model")
    texts = _inputs(body.get("input"))
    dimensions = body.get("dimensions", model_dimensions(model))
    if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise RequestError(400, "Invalid value for 'dimensions'.", "dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise RequestError(400, "Invalid value for 'encoding_format'.", "encoding_format")
    tokens = sum(count_words(t) or 1 for t in texts)
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(embed(t, dimensions), encoding)}
        for i, t in enumerate(texts)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def embeddings(body: dict[str, Any]) -> Response:
    try:
        return JSONResponse(create_embeddings(body))
    except RequestError as exc:
        return openai_error(Error(exc.status, exc.message), exc.param)
