"""``bureau-agent``: ``serve`` (standalone, development and tests) and ``run`` (in a desk VM)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Annotated

import typer

import bureau_agent._lean  # noqa: F401  (before httpx is imported: see the module)
from bureau_agent import desk
from bureau_agent.app import create_app
from bureau_agent.config import AgentConfig, load_config
from bureau_agent.credentials import Credentials
from bureau_agent.serving import run_server, server_config
from bureau_agent.version import __version__

__all__ = ["app"]

app = typer.Typer(add_completion=False, help="Bureau's desk agent (Assistants-compatible API).")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bureau-agent {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(
    config: AgentConfig,
    host: str,
    port: int,
    *,
    cert: Path | None,
    key: Path | None,
    client_ca: Path | None,
    credentials: Credentials | None = None,
) -> None:
    mutual = client_ca is not None
    application = create_app(config, credentials=credentials, mutual_tls=mutual)
    run_server(server_config(application, host, port, cert=cert, key=key, client_ca=client_ca))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    data_dir: Annotated[Path | None, typer.Option(help="State directory.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Env file.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Server key (PEM).")] = None,
    client_ca: Annotated[
        Path | None, typer.Option(help="Require client certs from this CA.")
    ] = None,
) -> None:
    """Serve the API standalone: plain HTTP on loopback only, else TLS."""
    overrides = {"BUREAU_AGENT_DATA_DIR": data_dir} if data_dir else {}
    settings = load_config(config, **overrides)
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    if tls_cert is None and not _is_loopback(host):
        typer.echo(
            "refusing plain HTTP on a non-loopback address; pass --tls-cert/--tls-key", err=True
        )
        raise typer.Exit(2)
    if client_ca is not None and tls_cert is None:
        raise typer.BadParameter("--client-ca needs --tls-cert/--tls-key")
    if settings.agent_token is None and client_ca is None:
        typer.echo("warning: BUREAU_AGENT_TOKEN is unset: the API accepts any caller", err=True)
    _serve(settings, host, port, cert=tls_cert, key=tls_key, client_ca=client_ca)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", help="Env file.")] = desk.DEFAULT_CONFIG,
) -> None:
    """The desk entry point: enroll once (or reuse the certificate), then serve mutual TLS.

    A desk's unit starts ``python -m bureau_agent.desk`` instead: the same without this CLI.
    """
    desk.run(config)
