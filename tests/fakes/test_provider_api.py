"""The fake provider's public Python API, which other areas' tests code against."""

from __future__ import annotations

import httpx

import tests.fakes.provider as provider
from tests.fakes.fixtures import FakeProviderServer
from tests.fakes.provider import FakeProvider, Text


def test_public_names_are_exported() -> None:
    assert set(provider.__all__) >= {
        "FakeProvider",
        "RecordedRequest",
        "Reply",
        "Text",
        "ToolCalls",
        "Call",
        "Error",
        "rate_limited",
        "invalid_key",
        "server_error",
        "context_length_exceeded",
        "prompt_too_long",
    }
    assert all(hasattr(provider, name) for name in provider.__all__)


def test_reply_constructors_take_the_documented_arguments() -> None:
    text = Text("hi", "length", 3, delay=0.5, chunk_delay=0.1)
    call = provider.Call("f", {"a": 1}, "id_1")
    calls = provider.ToolCalls([call], delay=1)
    error = provider.Error(418, "teapot", "t", "c", {"x-h": "v"}, delay=2)
    assert (text.finish_reason, text.chunks, text.delay, text.chunk_delay) == (
        "length",
        3,
        0.5,
        0.1,
    )
    assert (calls.calls[0].arguments_json(), calls.delay) == ('{"a": 1}', 1)
    assert (error.type, error.code, error.headers, error.delay) == ("t", "c", {"x-h": "v"}, 2)


def test_error_helpers_carry_the_documented_statuses_and_codes() -> None:
    assert provider.rate_limited(retry_after=3).headers["retry-after"] == "3"
    assert provider.rate_limited(retry_after=0.5).headers["retry-after-ms"] == "500"
    assert provider.invalid_key().status == 401
    assert provider.server_error().status == 500
    assert provider.context_length_exceeded().code == "context_length_exceeded"
    assert provider.prompt_too_long(10, 5).message == "prompt is too long: 10 tokens > 5 maximum"


def test_star_queue_is_used_after_the_models_own_queue() -> None:
    fake = FakeProvider()
    fake.queue("*", Text("any"))
    fake.queue("m", Text("own"))
    assert [fake.next_reply("m"), fake.next_reply("m"), fake.next_reply("m")] == [
        Text("own"),
        Text("any"),
        None,
    ]


def test_reset_clears_scripts_and_recorded_requests(fake_provider: FakeProviderServer) -> None:
    fake_provider.provider.queue("m", Text("x"))
    httpx.get(fake_provider.openai_base_url + "/models", headers={"Authorization": "Bearer k"})
    fake_provider.provider.reset()
    assert fake_provider.provider.pending("m") == 0
    assert fake_provider.provider.requests == []


def test_fixture_urls_point_at_each_apis_base(fake_provider: FakeProviderServer) -> None:
    assert fake_provider.url.startswith("http://127.0.0.1:")
    assert fake_provider.openai_base_url == fake_provider.url + "/v1"
    assert fake_provider.anthropic_base_url == fake_provider.url
    assert fake_provider.openrouter_base_url == fake_provider.url + "/api/v1"


def test_wrong_method_is_a_405_in_the_apis_shape(fake_provider: FakeProviderServer) -> None:
    response = httpx.get(fake_provider.openai_base_url + "/chat/completions")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "invalid_request_error"
