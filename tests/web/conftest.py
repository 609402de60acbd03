"""A real control plane (HTTPS, scripted driver whose desks are real enrolled agents), the fake LLM
provider, and Debian's Chromium driven by Playwright. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from bureau_agent import config as agent_config
from orchestrator.api.routes.users import ensure_admin
from orchestrator.app import create_app
from orchestrator.dist import AgentDistStore
from orchestrator.drivers.base import DeskHandle, DeskSpec, ProgressFn
from orchestrator.drivers.scripted import ScriptedDriver
from orchestrator.escrow import Escrow
from orchestrator.settings import Settings
from tests.fakes.fixtures import FakeProviderServer
from tests.helpers.servers import free_port, serve_asgi
from tests.helpers.wait import wait_until
from tests.web.desk_agent import boot_facts, serve_desk_agent

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Two cores shared by a whole team: give the page's assertions room, they return when true.
expect.set_options(timeout=15_000)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class AgentBackedDriver(ScriptedDriver):
    """The scripted driver, plus a real bureau-agent per desk that enrolls like a VM would."""

    ports: dict[str, int] = field(default_factory=dict)
    agents: dict[str, contextlib.ExitStack] = field(default_factory=dict)
    boot_errors: dict[str, BaseException] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.agent_url = self._url_for

    def _url_for(self, desk_id: str) -> str:
        return f"https://127.0.0.1:{self.ports.setdefault(desk_id, free_port())}"

    async def create(self, spec: DeskSpec, progress: ProgressFn) -> DeskHandle:
        handle = await super().create(spec, progress)
        facts = boot_facts(spec.user_data, spec.user_data_gzipped)
        port = self.ports.setdefault(spec.desk_id, free_port())
        threading.Thread(target=self._boot, args=(facts, port), daemon=True).start()
        return handle

    def _boot(self, facts: Any, port: int) -> None:
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(serve_desk_agent(facts, port))
        except BaseException as error:  # surfaced by the tests through boot_errors
            self.boot_errors[facts.desk_id] = error
            stack.close()
            return
        self.agents[facts.desk_id] = stack

    async def destroy(self, desk_id: str, progress: ProgressFn) -> None:
        await super().destroy(desk_id, progress)
        stack = self.agents.pop(desk_id, None)
        if stack is not None:
            await asyncio.to_thread(stack.close)

    def close_all(self) -> None:
        for desk_id in list(self.agents):
            self.agents.pop(desk_id).close()


@dataclass
class Stack:
    url: str
    ca: Path
    admin_token: str
    driver: AgentBackedDriver
    fake: FakeProviderServer
    escrow: Escrow
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=str(self.ca)),
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )

    def user(self, name: str) -> str:
        """The API token of user ``name`` (created on first use)."""
        if name not in self.tokens:
            with self.client(self.admin_token) as client:
                response = client.post("/v1/users", json={"name": name})
                assert response.status_code == 201, response.text
                self.tokens[name] = str(response.json()["token"])
        return self.tokens[name]

    def desk(self, user: str, desk_id: str) -> dict[str, Any]:
        with self.client(self.user(user)) as client:
            response = client.get(f"/v1/desks/{desk_id}")
            assert response.status_code == 200, response.text
            return dict(response.json())

    def create_desk(self, user: str, name: str, **overrides: Any) -> str:
        body = {
            "name": name,
            "provider": "openai",
            "api_key": "sk-test-web-0001",
            "model": "gpt-4o",
        }
        body.update(overrides)
        with self.client(self.user(user)) as client:
            response = client.post("/v1/desks", json=body)
            assert response.status_code in (200, 201, 202), response.text
            return str(response.json()["id"])

    def wait_state(self, user: str, desk_id: str, state: str, timeout: float = 60) -> None:
        def reached() -> bool:
            error = self.driver.boot_errors.get(desk_id)
            if error is not None:
                raise AssertionError(f"desk agent failed to boot: {error!r}") from error
            return self.desk(user, desk_id)["state"] == state

        wait_until(reached, timeout=timeout, interval=0.2, message=f"desk {desk_id} {state}")


@pytest.fixture(scope="session")
def agent_wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bureau-agent wheel (the user-data carries its sha256), built once per session."""
    dist = tmp_path_factory.mktemp("web-agent-dist")
    AgentDistStore(dist, REPO / "agent_image").ensure()
    return dist


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    agent_wheel_dir: Path,
    fake_provider_server: FakeProviderServer,
) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("web-cp") / "data"
    shutil.copytree(agent_wheel_dir, data_dir / "dist")
    port = free_port()
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir}/bureau.db",
        driver="scripted",
        public_url=f"https://127.0.0.1:{port}",
        port=port,
        allow_http_endpoints=True,
        job_poll_seconds=0.05,
        job_heartbeat_seconds=0.2,
        reconcile_interval_seconds=3600.0,
        health_timeout_seconds=20.0,
        openai_api_base=fake_provider_server.openai_base_url,
        anthropic_api_base=fake_provider_server.anthropic_base_url + "/v1",
        openrouter_api_base=fake_provider_server.openrouter_base_url,
    )
    driver = AgentBackedDriver()
    app = create_app(settings, driver=driver)
    runtime = app.state.runtime
    with runtime.db.session() as session:
        admin_token = ensure_admin(session, None)
    assert admin_token is not None
    paths = runtime.pki.paths
    chat_url = fake_provider_server.openai_base_url + "/chat/completions"
    with (
        pytest.MonkeyPatch.context() as patch,
        serve_asgi(app, port=port, certfile=paths.server, keyfile=paths.server_key) as server,
    ):
        # The desks' "internet": the agents reach OpenAI's default endpoint at the fake provider.
        patch.setitem(agent_config.DEFAULT_CHAT_ENDPOINTS, "openai", chat_url)
        try:
            yield Stack(
                server.url, paths.ca, admin_token, driver, fake_provider_server, runtime.escrow
            )
        finally:
            driver.close_all()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    launched = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1200, "height": 900})
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot for people to look at (test-artifacts/ is not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, stack: Stack, user: str) -> None:
    page.goto(stack.url + "/signin")
    page.get_by_label("API token").fill(stack.user(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/desks")
