"""The web interface in a real Chromium against a real control plane, agent and fake provider."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Stack, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_with_token_then_sign_out(page: Page, stack: Stack) -> None:
    page.goto(stack.url + "/")
    expect(page).to_have_url(re.compile(r"/signin$"))
    screenshot(page, "01-signin")
    sign_in(page, stack, "alice")
    expect(page.locator(".who .user")).to_have_text("alice")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.goto(stack.url + "/desks")
    expect(page).to_have_url(re.compile(r"/signin$"))


def test_wrong_token_is_refused_with_a_message(page: Page, stack: Stack) -> None:
    page.goto(stack.url + "/signin")
    page.get_by_label("API token").fill("bur_not_a_real_token_at_all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#error-token")).to_have_text("This token is not valid (or was revoked).")


def test_create_desk_through_the_form_then_chat_with_a_tool_step(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "alice")
    page.get_by_role("link", name="New desk").first.click()
    page.get_by_label("Desk name").fill("web-chat")
    page.get_by_label("Provider", exact=True).select_option("openai")
    expect(page.locator("#hint-provider")).to_contain_text("platform.openai.com")
    page.get_by_label("API key", exact=True).fill("sk-test-web-create-0001")
    expect(page.locator("#model option")).to_have_count(8)
    page.get_by_label("Search models").fill("4o-mini")
    expect(page.locator("#model option")).to_have_count(1)
    page.locator("#model").select_option("gpt-4o-mini")
    screenshot(page, "02-new-desk")
    page.get_by_role("button", name="Create desk").click()
    expect(page).to_have_url(re.compile(r"/desks/d[^/]+$"))
    desk_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("[data-steps] li").first).to_be_visible()
    screenshot(page, "03-desk-progress")
    expect(page.locator("[data-chat]")).to_be_visible(timeout=60_000)
    expect(page.locator("[data-desk-badge]")).to_have_text("ready")
    assert stack.desk("alice", desk_id)["model"] == "gpt-4o-mini"

    page.get_by_label("Message", exact=True).fill(
        'Run this: [[tool:shell {"command": "echo bureau-web-ok"}]]'
    )
    page.get_by_role("button", name="Send").click()
    step = page.locator("details.tool-step").first
    expect(step).to_be_visible(timeout=30_000)
    expect(step.locator(".tool-name")).to_have_text("shell")
    expect(page.locator(".msg-assistant .msg-text").last).to_contain_text(
        "bureau-web-ok", timeout=30_000
    )
    step.locator("summary").click()
    expect(step.locator("[data-tool-output]")).to_contain_text("bureau-web-ok")
    screenshot(page, "04-desk-chat")
