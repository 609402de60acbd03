"""``bureau``: run the control plane (serve, worker) and talk to it (user, token, desk).

Client commands read ``BUREAU_URL`` (default: the settings' public URL), ``BUREAU_TOKEN`` (never a
command-line argument) and ``BUREAU_CA`` (default ``<data dir>/tls/ca.pem`` when it exists).
``desk create`` reads the provider key from a hidden prompt, or from stdin when it is not a
terminal; never from the command line.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orchestrator.drivers.factory import DriverUnavailableError
from orchestrator.settings import Settings, UnsafeSettingsError

app = typer.Typer(help="Bureau: one isolated VM per user running an AI coding agent.")
user_app = typer.Typer(help="Manage users (admin).")
token_app = typer.Typer(help="Manage your API tokens.")
desk_app = typer.Typer(help="Manage your desks.")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(desk_app, name="desk")
console = Console()
err = Console(stderr=True)


def _mount_image_cli() -> None:
    """``bureau image``: the local guest image (orchestrator/image, another engineer's)."""
    try:
        from orchestrator.image.cli import image_app
    except ImportError:
        return
    app.add_typer(image_app, name="image")


def _mount_pool_cli() -> None:
    """``bureau pool``: the warm pool's status (orchestrator/pool/cli.py)."""
    from orchestrator.pool.cli import pool_app

    app.add_typer(pool_app, name="pool")


STEPS = ["pending", "provisioning", "booting", "enrolling", "ready"]
SETTLED = {"ready", "failed", "awaiting_key", "stopped", "deleted"}


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except (ValidationError, UnsafeSettingsError) as exc:
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from None


# --- server processes ------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (BUREAU_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (BUREAU_PORT).")] = None,
) -> None:
    """Run the control plane: API (HTTPS by default) plus in-process workers."""
    import uvicorn

    from orchestrator.api.routes.users import ensure_admin
    from orchestrator.app import create_app
    from orchestrator.runtime import Runtime

    settings = _settings(host=host, port=port)
    try:
        api = create_app(settings)
    except DriverUnavailableError as exc:
        err.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(2) from None
    rt: Runtime = api.state.runtime
    preset = settings.bootstrap_admin_token
    with rt.db.session() as session:
        token = ensure_admin(session, preset.get_secret_value() if preset else None)
    if token and preset is None:
        console.print(f"admin token: {token}", highlight=False, soft_wrap=True)
    elif token:
        console.print("admin user created with BUREAU_BOOTSTRAP_ADMIN_TOKEN")
    scheme = "https" if settings.tls else "http"
    console.print(f"Bureau control plane on {scheme}://{settings.host}:{settings.port}")
    if settings.tls:
        console.print(f"CA certificate for clients: {rt.pki.paths.ca.resolve()}")
    uvicorn.run(
        api,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(rt.pki.paths.server) if settings.tls else None,
        ssl_keyfile=str(rt.pki.paths.server_key) if settings.tls else None,
        log_level=settings.log_level.lower(),
    )


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Concurrent jobs.")] = None,
) -> None:
    """Run job workers (and the reaper/reconciler) without the API."""
    from orchestrator import redaction
    from orchestrator.jobs.maintenance import run_maintenance
    from orchestrator.jobs.worker import WorkerPool
    from orchestrator.runtime import build_runtime

    settings = _settings()
    try:
        rt = build_runtime(settings)
    except DriverUnavailableError as exc:
        err.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(2) from None
    redaction.install(rt.escrow.values)

    async def main() -> None:
        from orchestrator.pool import start_pool, stop_pool

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await start_pool(rt.driver, settings)
        pool = WorkerPool(rt, concurrency=concurrency or settings.worker_concurrency)
        console.print(f"worker {pool.worker_id} running {pool.concurrency} slots")
        await asyncio.gather(pool.run(stop), run_maintenance(rt, stop))
        await stop_pool()
        await rt.agents.aclose()

    asyncio.run(main())
    rt.close_sync()


# --- client ----------------------------------------------------------------------------------
def _client() -> httpx.Client:
    url = os.environ.get("BUREAU_URL")
    ca_env = os.environ.get("BUREAU_CA")
    settings: Settings | None = None
    if not url or not ca_env:
        settings = _settings()
    base = url or (settings.public_url if settings else "https://127.0.0.1:8443")
    ca = Path(ca_env) if ca_env else (settings.tls_dir / "ca.pem" if settings else None)
    verify: ssl.SSLContext | bool = True
    if ca is not None and ca.exists():
        verify = ssl.create_default_context(cafile=str(ca))
    token = os.environ.get("BUREAU_TOKEN")
    if not token:
        err.print("[red]set BUREAU_TOKEN[/red] to your Bureau API token")
        raise typer.Exit(2)
    return httpx.Client(
        base_url=base,
        verify=verify,
        headers={"authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(30.0, read=None),
    )


def _check(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return response.json() if response.content else None
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    if isinstance(detail, list):
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
        )
    err.print(f"[red]error {response.status_code}:[/red] {detail}")
    raise typer.Exit(1)


def _request(method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client() as client:
            return _check(client.request(method, path, **kwargs))
    except httpx.HTTPError as exc:
        err.print(f"[red]cannot reach the control plane:[/red] {exc}")
        raise typer.Exit(1) from None


@user_app.command("create")
def user_create(
    name: str, admin: Annotated[bool, typer.Option("--admin", help="Make an admin.")] = False
) -> None:
    """Create a user; prints their first API token once."""
    body = _request("POST", "/v1/users", json={"name": name, "is_admin": admin})
    console.print(f"user {body['name']} ({body['id']})")
    console.print(f"token: {body['token']}", highlight=False, soft_wrap=True)


@token_app.command("create")
def token_create(name: str) -> None:
    """Create another API token for yourself; prints it once."""
    body = _request("POST", "/v1/tokens", json={"name": name})
    console.print(f"token: {body['token']}", highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list() -> None:
    """List your API tokens (never their values); * marks the one in BUREAU_TOKEN."""
    body = _request("GET", "/v1/tokens")
    table = Table("id", "name", "created", "")
    for row in body["data"]:
        table.add_row(row["id"], row["name"], row["created_at"], "*" if row["current"] else "")
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke one of your API tokens: it stops working at once."""
    _request("DELETE", f"/v1/tokens/{token_id}")
    console.print(f"revoked {token_id}")


def _read_key(prompt: str) -> str:
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True)).strip()
    return sys.stdin.readline().strip()


def _events(client: httpx.Client, desk_id: str, follow: bool) -> Iterator[dict[str, Any]]:
    params = {"follow": "true" if follow else "false"}
    with client.stream("GET", f"/v1/desks/{desk_id}/events", params=params) as response:
        if response.status_code >= 400:
            response.read()
            _check(response)
        for line in response.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[6:])


def _watch(client: httpx.Client, desk_id: str) -> str:
    """Show a progress bar of the lifecycle until the desk settles; return the final state."""
    state = "pending"
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(desk_id, total=len(STEPS) - 1, state=state)
        for event in _events(client, desk_id, follow=True):
            if event["kind"] == "progress":
                progress.console.print(f"  {event['message']}", highlight=False)
                continue
            state = event["to_state"]
            if state in STEPS:
                progress.update(task, completed=STEPS.index(state))
            progress.update(task, state=state)
            if state in SETTLED:
                break
    return state


@desk_app.command("create")
def desk_create(
    name: str,
    provider: Annotated[str, typer.Option(help="anthropic | openai | openrouter | custom")],
    model: Annotated[str, typer.Option(help="Model name, e.g. gpt-4o-mini.")],
    endpoint: Annotated[str | None, typer.Option(help="Chat completions URL (custom).")] = None,
    longer_context_model: Annotated[str | None, typer.Option()] = None,
    max_tool_calls: Annotated[int, typer.Option(min=1, max=100)] = 10,
    size: Annotated[str, typer.Option(help="small | medium | large")] = "small",
    region: Annotated[str | None, typer.Option()] = None,
    verify: Annotated[bool, typer.Option(help="Check the key with the provider first.")] = False,
    wait: Annotated[bool, typer.Option(help="Follow progress until ready.")] = True,
) -> None:
    """Create a desk. The provider key is read from a prompt or stdin, never from arguments."""
    key = _read_key(f"{provider} API key")
    body: dict[str, Any] = {
        "name": name,
        "provider": provider,
        "api_key": key,
        "model": model,
        "max_tool_calls": max_tool_calls,
        "size": size,
        "verify": verify,
    }
    for field, value in (
        ("endpoint", endpoint),
        ("longer_context_model", longer_context_model),
        ("region", region),
    ):
        if value is not None:
            body[field] = value
    with _client() as client:
        desk = _check(client.post("/v1/desks", json=body))
        del key, body
        console.print(f"desk {desk['name']} ({desk['id']}) created")
        if not wait:
            return
        state = _watch(client, desk["id"])
        final = _check(client.get(f"/v1/desks/{desk['id']}"))
    if state == "ready":
        console.print(f"[green]ready[/green]: {client.base_url}/v1/desks/{desk['id']}/agent/v1")
        return
    err.print(f"[red]{state}[/red]: {final.get('reason') or ''}")
    raise typer.Exit(1)


@desk_app.command("list")
def desk_list(
    all_users: Annotated[bool, typer.Option("--all", help="Admins: every user's.")] = False,
) -> None:
    """List your desks."""
    table = Table("id", "name", "state", "provider", "model", "key", "created")
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, "all": all_users}
        if after:
            params["after"] = after
        page = _request("GET", "/v1/desks", params=params)
        for d in page["data"]:
            table.add_row(
                d["id"], d["name"], d["state"], d["provider"], d["model"], d["key_hint"],
                d["created_at"][:19],
            )  # fmt: skip
        after = page.get("next_cursor")
        if not page.get("has_more") or not after:
            break
    console.print(table)


@desk_app.command("show")
def desk_show(desk_id: str) -> None:
    """Show one desk as JSON."""
    console.print_json(data=_request("GET", f"/v1/desks/{desk_id}"))


@desk_app.command("delete")
def desk_delete(
    desk_id: str, wait: Annotated[bool, typer.Option(help="Wait until deleted.")] = True
) -> None:
    """Delete a desk and every resource it has."""
    _request("DELETE", f"/v1/desks/{desk_id}")
    if not wait:
        console.print("deleting")
        return
    with _client() as client:
        for event in _events(client, desk_id, follow=True):
            if event["kind"] == "transition" and event["to_state"] in ("deleted", "failed"):
                console.print(f"{event['to_state']}: {event['message']}")
                if event["to_state"] == "failed":
                    raise typer.Exit(1)
                return


@desk_app.command("events")
def desk_events(
    desk_id: str, follow: Annotated[bool, typer.Option(help="Keep following.")] = False
) -> None:
    """Print a desk's events (its audit trail)."""
    with _client() as client:
        for event in _events(client, desk_id, follow=follow):
            change = (
                f"{event['from_state'] or '-'} -> {event['to_state']}"
                if event["kind"] == "transition"
                else "progress"
            )
            console.print(f"{event['at'][:19]}  {change:28} {event['message']}", highlight=False)


_mount_image_cli()
_mount_pool_cli()
