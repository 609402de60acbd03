"""The web interface in a real Chromium against a real control plane, agent and fake provider."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.helpers.wait import wait_until
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
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
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
    assert not [url for url in urls if "sk-test-web-create-0001" in url]
    assert "sk-test-web-create-0001" not in page.evaluate("JSON.stringify(localStorage)")
    assert stack.user("alice") not in page.content()

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


@pytest.fixture(scope="module")
def ready_desk(stack: Stack) -> str:
    """One of alice's desks, created through the API and ready (shared by the settings tests)."""
    desk_id = stack.create_desk("alice", "web-shared", api_key="sk-test-web-shared-1111")
    stack.wait_state("alice", desk_id, "ready")
    return desk_id


def test_rotating_the_key_from_settings_reaches_the_desk(
    page: Page, stack: Stack, ready_desk: str
) -> None:
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{ready_desk}/settings")
    expect(page.locator("#model")).to_have_value("gpt-4o")
    page.get_by_label("API key", exact=True).fill("sk-test-web-rotated-9876")
    expect(page.locator("#model option")).to_have_count(8)
    page.locator("#model").select_option("gpt-4.1")
    screenshot(page, "05-settings")
    page.get_by_role("button", name="Save and send to desk").click()
    expect(page.get_by_role("status")).to_contain_text("sent to your desk")
    expect(page.locator(".desk-head")).to_contain_text("9876")
    desk = stack.desk("alice", ready_desk)
    assert desk["key_hint"].endswith("9876")
    assert desk["model"] == "gpt-4.1"
    assert "sk-test-web-rotated-9876" not in page.content()


def test_wrong_key_prefix_shows_the_error_next_to_the_key(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "alice")
    page.goto(stack.url + "/desks/new")
    page.get_by_label("Desk name").fill("web-prefix")
    page.get_by_label("Provider", exact=True).select_option("anthropic")
    page.get_by_label("API key", exact=True).fill("sk-proj-not-an-anthropic-key")
    page.get_by_role("button", name="Create desk").click()
    error = page.locator("#error-api_key")
    expect(error).to_have_text(
        "Anthropic (Claude) keys start with sk-ant- — check that you pasted the whole key."
    )
    expect(page.get_by_label("API key", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/desks/new$"))
    screenshot(page, "06-new-desk-errors")
    assert "sk-proj-not-an-anthropic-key" not in page.content()


def test_another_users_desk_answers_404(page: Page, stack: Stack) -> None:
    bobs_desk = stack.create_desk("bob", "bob-private")
    sign_in(page, stack, "alice")
    for suffix in ("", "/settings", "/memory"):
        response = page.goto(f"{stack.url}/desks/{bobs_desk}{suffix}")
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    screenshot(page, "07-not-found")


def test_create_form_works_with_the_keyboard_only(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "alice")
    page.goto(stack.url + "/desks/new")
    expect(page.get_by_label("Desk name")).to_be_focused()
    page.keyboard.type("web-keys")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Size")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Provider", exact=True)).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Provider", exact=True)).to_have_value("openai")
    page.keyboard.press("Tab")
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    page.keyboard.type("sk-test-web-keyboard-4242")
    expect(page.locator("#model option")).to_have_count(8)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search models")).to_be_focused()
    page.keyboard.type("4.1-mini")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#model")).to_be_focused()
    expect(page.locator("#model")).to_have_value("gpt-4.1-mini")
    for _ in range(3):  # Advanced, Embeddings, then the submit button
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create desk")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/desks/d[^/]+$"))
    desk = stack.desk("alice", page.url.rsplit("/", 1)[1])
    assert (desk["name"], desk["model"]) == ("web-keys", "gpt-4.1-mini")


LABEL_CHECK = """els => els.filter(el => el.type !== 'hidden').filter(el =>
    !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
  ).map(el => el.id || el.name || el.outerHTML)"""


def test_every_input_has_a_label(page: Page, stack: Stack, ready_desk: str) -> None:
    page.goto(stack.url + "/signin")
    assert page.locator("input, select, textarea").evaluate_all(LABEL_CHECK) == []
    sign_in(page, stack, "alice")
    for path in ("/desks/new", f"/desks/{ready_desk}", f"/desks/{ready_desk}/settings"):
        page.goto(stack.url + path)
        unlabelled = page.locator("input, select, textarea").evaluate_all(LABEL_CHECK)
        assert unlabelled == [], f"{path}: {unlabelled}"


def test_desks_list_badge_follows_the_desk_live(page: Page, stack: Stack) -> None:
    gate = stack.driver.hold("create")
    try:
        desk_id = stack.create_desk("alice", "web-live")
        sign_in(page, stack, "alice")
        badge = page.locator(f'tr[data-desk-id="{desk_id}"] [data-badge]')
        expect(badge).to_have_text("provisioning")
        page.evaluate("window.__notReloaded = true")
        screenshot(page, "08-desks-list")
    finally:
        gate.set()
        stack.driver.release("create")
    expect(badge).to_have_text("ready", timeout=60_000)
    assert page.evaluate("window.__notReloaded") is True


def test_delete_asks_for_the_name_then_deletes(page: Page, stack: Stack) -> None:
    desk_id = stack.create_desk("alice", "web-delete")
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{desk_id}/settings")
    page.get_by_label(re.compile("Type the desk's name")).fill("not-the-name")
    page.get_by_role("button", name="Delete desk").click()
    expect(page.locator("#error-confirm_name")).to_contain_text("Type the desk's name exactly")
    assert stack.desk("alice", desk_id)["state"] not in ("deleting", "deleted")
    page.get_by_label(re.compile("Type the desk's name")).fill("web-delete")
    page.get_by_role("button", name="Delete desk").click()
    expect(page).to_have_url(re.compile(r"/desks$"))
    stack.wait_state("alice", desk_id, "deleted")
    assert desk_id not in stack.driver.agents
    page.reload()
    expect(page.locator(f'tr[data-desk-id="{desk_id}"]')).to_have_count(0)


def test_stop_asks_for_confirmation_in_a_dialog(page: Page, stack: Stack, ready_desk: str) -> None:
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{ready_desk}/settings")
    page.get_by_role("button", name="Stop", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    screenshot(page, "09-stop-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert stack.desk("alice", ready_desk)["state"] == "ready"


def test_failed_desk_shows_the_reason(page: Page, stack: Stack) -> None:
    from orchestrator.drivers.base import PermanentDriverError

    stack.driver.fail_next("create", PermanentDriverError("no capacity left: try another size"))
    desk_id = stack.create_desk("alice", "web-fails")
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{desk_id}")
    failure = page.locator("[data-failure]")
    expect(failure).to_be_visible(timeout=30_000)
    expect(failure).to_contain_text("no capacity left")
    expect(page.locator("[data-desk-badge]")).to_have_text("failed")
    screenshot(page, "10-desk-failed")


def test_memory_tab_searches_and_deletes(page: Page, stack: Stack, ready_desk: str) -> None:
    base = f"/v1/desks/{ready_desk}/agent/desk/v1/memory"
    with stack.client(stack.user("alice")) as client:
        for text in ("the user prefers tabs over spaces", "the project uses PostgreSQL 15"):
            assert client.post(base, json={"text": text}).status_code == 200
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{ready_desk}/memory")
    items = page.locator("[data-memory-list] li")
    expect(items).to_have_count(2)
    page.get_by_label("Search memories").fill("PostgreSQL")
    page.get_by_role("button", name="Search").click()
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("PostgreSQL 15")
    screenshot(page, "11-memory")
    page.once("dialog", lambda dialog: dialog.accept())
    items.first.get_by_role("button", name=re.compile("^Delete memory")).click()
    expect(items).to_have_count(0)
    with stack.client(stack.user("alice")) as client:
        remaining = [m["text"] for m in client.get(base).json()["data"]]
    assert remaining == ["the user prefers tabs over spaces"]


def test_chat_uploads_attachments_for_file_search(
    page: Page, stack: Stack, ready_desk: str, tmp_path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("The launch code word is marmalade.\n")
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{ready_desk}")
    page.get_by_label("Message", exact=True).fill("Please read the attached notes.")
    page.get_by_label("Attach files for search").set_input_files(str(notes))
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".msg-user .msg-text").last).to_contain_text("notes.txt")
    expect(page.locator(".msg-assistant .msg-text").last).to_contain_text("echo:", timeout=30_000)
    with stack.client(stack.user("alice")) as client:
        files = client.get(f"/v1/desks/{ready_desk}/agent/v1/files").json()["data"]
    assert [f["filename"] for f in files] == ["notes.txt"]


def test_stop_then_start_after_confirming(page: Page, stack: Stack, ready_desk: str) -> None:
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{ready_desk}/settings")
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Stop").click()
    expect(page).to_have_url(re.compile(rf"/desks/{ready_desk}$"))
    expect(page.locator("[data-desk-badge]")).to_have_text("stopped", timeout=30_000)
    expect(page.locator("[data-stopped]")).to_be_visible()
    page.goto(f"{stack.url}/desks/{ready_desk}/settings")
    expect(page.get_by_role("button", name="Stop", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Start").click()
    expect(page.locator("[data-desk-badge]")).to_have_text("ready", timeout=60_000)
    expect(page.locator("[data-chat]")).to_be_visible()


def _ask_in_a_new_conversation(page: Page, stack: Stack, desk_id: str, text: str) -> None:
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{desk_id}")
    page.get_by_role("button", name="New conversation").click()
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def test_a_streaming_answer_can_be_stopped(page: Page, stack: Stack, ready_desk: str) -> None:
    from tests.fakes.provider_replies import Text

    words = " ".join(f"word{i}" for i in range(200))
    stack.fake.provider.queue("*", Text(words, chunk_delay=0.1))
    try:
        _ask_in_a_new_conversation(page, stack, ready_desk, "Tell me a long story.")
        expect(page.locator(".msg-assistant .msg-text").last).to_contain_text("word3")
        page.get_by_role("button", name="Stop answering").click()
        expect(page.locator("[data-chat-error]")).to_have_text("You stopped this answer.")
        expect(page.get_by_role("button", name="Stop answering")).to_be_hidden()
        assert "word199" not in page.locator(".msg-assistant .msg-text").last.inner_text()
    finally:
        stack.fake.provider.reset()


MARKDOWN_ANSWER = """Here is **the fix**:

```python
print("bureau-markdown-ok")
```

- one item
- [a link](https://example.com/docs)
- [a trap](javascript:window.__xss=3)

<img src="x" onerror="window.__xss=1"><script>window.__xss=2</script>
"""


def _assert_rendered_markdown(page: Page) -> None:
    answer = page.locator(".msg-assistant .msg-text").last
    expect(answer.locator("pre code")).to_have_text('print("bureau-markdown-ok")\n')
    expect(answer.locator("strong")).to_have_text("the fix")
    expect(answer.locator("li")).to_have_count(3)
    link = answer.get_by_role("link", name="a link")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    assert answer.locator("script").count() == 0
    assert answer.locator("[onerror]").count() == 0
    assert answer.get_by_text("a trap").get_attribute("href") in (None, "")
    assert page.evaluate("window.__xss") is None


def test_answers_render_as_markdown_without_running_what_they_carry(
    page: Page, stack: Stack, ready_desk: str
) -> None:
    from tests.fakes.provider_replies import Text

    stack.fake.provider.queue("*", Text(MARKDOWN_ANSWER, chunk_delay=0.01))
    try:
        _ask_in_a_new_conversation(page, stack, ready_desk, "Show me the fix.")
        _assert_rendered_markdown(page)
        screenshot(page, "10-markdown-answer")
        page.reload()  # the stored conversation (opened on load) renders the same way
        _assert_rendered_markdown(page)
    finally:
        stack.fake.provider.reset()


def test_custom_endpoint_lists_models_from_that_server(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "alice")
    page.goto(stack.url + "/desks/new")
    endpoint = page.get_by_label("Chat completions URL")
    expect(endpoint).to_be_hidden()
    page.get_by_label("Provider", exact=True).select_option("custom")
    expect(endpoint).to_be_visible()
    endpoint.fill(stack.fake.openai_base_url + "/chat/completions")
    page.get_by_label("API key", exact=True).fill("local-server-key")
    expect(page.locator("#model option")).to_have_count(8)


def test_a_key_the_provider_rejects_is_explained_on_the_key_field(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "alice")
    page.goto(stack.url + "/desks/new")
    page.get_by_label("Provider", exact=True).select_option("openai")
    page.get_by_label("API key", exact=True).fill("sk-invalid-key-0000")
    expect(page.locator("#error-api_key")).to_contain_text("did not accept this key")
    expect(page.get_by_label("Model id (type it)")).to_be_visible()


def test_embeddings_can_reuse_the_main_key(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "alice")
    page.goto(stack.url + "/desks/new")
    page.get_by_label("Desk name").fill("web-embeddings")
    page.get_by_label("Provider", exact=True).select_option("openrouter")
    page.get_by_label("API key", exact=True).fill("sk-or-test-web-embed-7777")
    page.get_by_label("Search models").fill("gpt-4o-mini")
    expect(page.locator("#model option")).to_have_count(1)
    page.locator("#model").select_option("openai/gpt-4o-mini")
    page.get_by_text("Embeddings for persistent memory").click()
    page.get_by_label("Use an embeddings provider").check()
    page.get_by_label("Embeddings provider", exact=True).select_option("openrouter")
    page.get_by_label("Embeddings model").fill("openai/text-embedding-3-small")
    expect(page.get_by_label("Reuse the main key")).to_be_checked()
    screenshot(page, "12-new-desk-embeddings")
    page.get_by_role("button", name="Create desk").click()
    expect(page).to_have_url(re.compile(r"/desks/d[^/]+$"))
    desk = stack.desk("alice", page.url.rsplit("/", 1)[1])
    assert desk["embeddings_provider"] == "openrouter"
    assert desk["embeddings_model"] == "openai/text-embedding-3-small"
    assert desk["embeddings_key_hint"].endswith("7777")


def test_a_desk_awaiting_its_key_gets_it_again_from_settings(page: Page, stack: Stack) -> None:
    gate = stack.driver.hold("create")
    try:
        desk_id = stack.create_desk("alice", "web-rekey")
        stack.escrow.discard(desk_id)  # as if the control plane restarted before enrollment
    finally:
        gate.set()
        stack.driver.release("create")
    stack.wait_state("alice", desk_id, "awaiting_key")
    wait_until(lambda: desk_id in stack.driver.agents, timeout=60, message="desk agent serving")
    sign_in(page, stack, "alice")
    page.goto(f"{stack.url}/desks/{desk_id}")
    expect(page.locator("[data-awaiting-key]")).to_be_visible()
    expect(page.locator("[data-chat]")).to_be_hidden()
    page.get_by_role("link", name="Enter the key again").click()
    page.get_by_label("API key", exact=True).fill("sk-test-web-again-5555")
    expect(page.locator("#model")).to_have_value("gpt-4o")
    page.get_by_role("button", name="Save and send to desk").click()
    expect(page.get_by_role("status")).to_contain_text("sent to your desk")
    stack.wait_state("alice", desk_id, "ready")
    page.get_by_role("link", name="Desk", exact=True).click()
    expect(page.locator("[data-chat]")).to_be_visible()
