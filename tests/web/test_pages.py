"""The pages over plain HTTPS (no browser): cookies, CSRF, headers, the no-JavaScript fallback."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.web.rendering import STATIC_DIR, TEMPLATES_DIR
from tests.web.conftest import Stack


def _browser_like(stack: Stack) -> httpx.Client:
    verify = ssl.create_default_context(cafile=str(stack.ca))
    return httpx.Client(base_url=stack.url, verify=verify, timeout=30)


@pytest.fixture
def signed_in(stack: Stack) -> Iterator[tuple[httpx.Client, str]]:
    """A client holding alice's session cookie, and the page's CSRF token."""
    with _browser_like(stack) as client:
        form = client.get("/signin")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        answer = client.post(
            "/signin", data={"csrf_token": csrf.group(1), "token": stack.user("alice")}
        )
        assert answer.status_code == 303
        page = client.get("/desks/new")
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
        assert token is not None
        yield client, token.group(1)


def test_session_cookie_is_httponly_secure_and_samesite_strict(stack: Stack) -> None:
    with _browser_like(stack) as client:
        form = client.get("/signin")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        answer = client.post(
            "/signin", data={"csrf_token": csrf.group(1), "token": stack.user("alice")}
        )
    cookie = next(
        value
        for name, value in answer.headers.multi_items()
        if name == "set-cookie" and value.startswith("bureau_session=")
    )
    assert {"HttpOnly", "Secure", "SameSite=strict"} <= {part.strip() for part in cookie.split(";")}
    assert stack.user("alice") not in cookie


def test_sign_in_without_the_form_csrf_value_is_refused(stack: Stack) -> None:
    with _browser_like(stack) as client:
        answer = client.post("/signin", data={"token": stack.user("alice")})
    assert answer.status_code == 403
    assert "bureau_session=" not in answer.headers.get("set-cookie", "")


def test_form_post_without_csrf_is_refused(signed_in: tuple[httpx.Client, str]) -> None:
    client, _ = signed_in
    answer = client.post("/desks/new", data={"name": "no-csrf"})
    assert answer.status_code == 403


def test_pages_carry_a_strict_content_security_policy(
    signed_in: tuple[httpx.Client, str],
) -> None:
    client, _ = signed_in
    page = client.get("/desks")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_create_without_javascript_shows_errors_and_never_echoes_the_key(
    signed_in: tuple[httpx.Client, str],
) -> None:
    client, csrf = signed_in
    key = "sk-ant-api03-no-js-secret-key-value"
    answer = client.post(
        "/desks/new",
        data={"csrf_token": csrf, "name": "No JS", "provider": "openai", "api_key": key},
    )
    assert answer.status_code == 422
    assert "This looks like an Anthropic key, not an OpenAI key." in answer.text
    assert "Use lowercase letters, digits and hyphens only" in answer.text
    assert key not in answer.text


def test_create_as_json_maps_api_errors_onto_fields(
    signed_in: tuple[httpx.Client, str], stack: Stack
) -> None:
    client, csrf = signed_in
    stack.create_desk("alice", "taken-name")
    answer = client.post(
        "/desks/new",
        headers={"accept": "application/json", "x-csrf-token": csrf},
        data={
            "name": "taken-name",
            "provider": "openai",
            "api_key": "sk-test-json-0001",
            "model": "gpt-4o",
        },
    )
    assert answer.status_code == 422
    assert list(answer.json()["errors"]) == ["name"]


def test_no_page_or_asset_loads_anything_from_another_origin() -> None:
    external = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)
    files = [*Path(TEMPLATES_DIR).glob("*.html"), *Path(STATIC_DIR).rglob("*.js"),
             *Path(STATIC_DIR).rglob("*.css"), *Path(STATIC_DIR).rglob("*.svg")]  # fmt: skip
    offenders = [f.name for f in files if external.search(f.read_text())]
    assert offenders == []
    assert not re.search(r"@import|url\(\s*['\"]?https?:", (STATIC_DIR / "app.css").read_text())


def test_desks_list_with_a_broken_cursor_starts_over(signed_in: tuple[httpx.Client, str]) -> None:
    client, _ = signed_in
    answer = client.get("/desks", params={"after": "not-a-cursor"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/desks"
