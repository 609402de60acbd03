"""The fake provider's embeddings: sizes, determinism and retrieval-like similarity."""

from __future__ import annotations

import math
from collections.abc import Iterator

import openai
import pytest

from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import rate_limited

SMALL = "text-embedding-3-small"


@pytest.fixture
def client(fake_provider: FakeProviderServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=fake_provider.openai_base_url, api_key="sk-test", max_retries=0
    ) as client:
        yield client


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def vectors(client: openai.OpenAI, texts: list[str], model: str = SMALL) -> list[list[float]]:
    response = client.embeddings.create(model=model, input=texts, encoding_format="float")
    return [d.embedding for d in response.data]


@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("text-embedding-3-small", 1536),
        ("text-embedding-3-large", 3072),
        ("text-embedding-ada-002", 1536),
        ("fake-embedder-64", 64),
        ("openai/text-embedding-3-large", 3072),
    ],
)
def test_model_name_sets_the_dimensions(client: openai.OpenAI, model: str, size: int) -> None:
    (vector,) = vectors(client, ["hello"], model)
    assert len(vector) == size


def test_dimensions_parameter_overrides_the_model(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model=SMALL, input="hello", dimensions=256)
    assert len(response.data[0].embedding) == 256


def test_vectors_are_unit_length(client: openai.OpenAI) -> None:
    for vector in vectors(client, ["a b c", "one", "!!!"]):
        assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-9)


def test_same_text_gives_the_same_vector_alone_or_in_a_batch(client: openai.OpenAI) -> None:
    alone = vectors(client, ["the quick brown fox"])[0]
    batch = vectors(client, ["other text", "the quick brown fox"])
    assert batch[1] == alone
    assert vectors(client, ["the quick brown fox"])[0] == alone


def test_case_and_punctuation_do_not_change_the_vector(client: openai.OpenAI) -> None:
    first, second = vectors(client, ["Hello, World!", "hello world"])
    assert first == second


def test_texts_sharing_words_are_more_similar(client: openai.OpenAI) -> None:
    query, *docs = vectors(
        client,
        [
            "how do cats purr",
            "cats purr when they are content",
            "cats sleep most of the day",
            "the stock market fell sharply today",
        ],
    )
    scores = [cosine(query, d) for d in docs]
    assert scores[0] > scores[1] > scores[2]
    assert abs(scores[2]) < 0.1


def test_batch_keeps_input_order_and_indexes(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model=SMALL, input=["a", "b", "c"], encoding_format="float")
    assert [d.index for d in response.data] == [0, 1, 2]
    assert response.object == "list"
    assert response.model == SMALL
    assert response.usage.prompt_tokens == 3


def test_base64_encoding_decodes_to_the_float_vector(client: openai.OpenAI) -> None:
    (floats,) = vectors(client, ["same words"])
    encoded = client.embeddings.create(model=SMALL, input="same words")  # SDK asks for base64
    decoded = encoded.data[0].embedding
    assert len(decoded) == len(floats)
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, floats, strict=True))


def test_token_arrays_are_accepted(client: openai.OpenAI) -> None:
    single = client.embeddings.create(model=SMALL, input=[1, 2, 3], encoding_format="float")
    batch = client.embeddings.create(model=SMALL, input=[[1, 2, 3], [4]], encoding_format="float")
    assert len(single.data) == 1
    assert len(batch.data) == 2
    assert batch.data[0].embedding == single.data[0].embedding


def test_empty_input_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model=SMALL, input="")
    assert raised.value.param == "input"


def test_scripted_error_applies_to_embeddings(
    client: openai.OpenAI, fake_provider: FakeProviderServer
) -> None:
    fake_provider.provider.queue(SMALL, rate_limited())
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model=SMALL, input="x")
    assert client.embeddings.create(model=SMALL, input="x").data


def test_embeddings_need_a_valid_key(fake_provider: FakeProviderServer) -> None:
    with (
        openai.OpenAI(
            base_url=fake_provider.openai_base_url, api_key="sk-invalid-1", max_retries=0
        ) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.embeddings.create(model=SMALL, input="x")
