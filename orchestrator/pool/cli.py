"""``bureau pool status``: the warm pools of a running control plane, as a table.

It asks the control plane (``GET /v1/pool``, an admin token in ``BUREAU_TOKEN``; ``BUREAU_URL`` and
``BUREAU_CA`` like every client command): the pool lives in the process that runs the workers,
so only that process knows its slots, templates and in-flight work.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

pool_app = typer.Typer(help="The warm pool of desks (admin).", no_args_is_help=True)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _template(pool: dict[str, Any]) -> str:
    template = pool.get("template")
    if not template:
        return "-"
    state = str(template.get("state", "?"))
    age = _age(template.get("age_seconds"))
    return f"{state} {age}" if age else state


def _money(value: float | None) -> str:
    return "-" if value is None else f"€{value:.4f}"


def status_table(status: dict[str, Any]) -> Table:
    """The rows of ``bureau pool status`` (one per driver and size class)."""
    table = Table(
        title="Warm pool" + ("" if status.get("enabled") else " (off)"),
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for column in ("driver", "size", "target", "ready", "preparing", "assigning", "failed"):
        table.add_column(column, justify="left" if column in ("driver", "size") else "right")
    table.add_column("template", no_wrap=True)
    table.add_column("mem budget", justify="right")
    table.add_column("server type", no_wrap=True)
    table.add_column("cost/hour", justify="right")
    for pool in status.get("pools", []):
        budget = pool.get("memory_budget_mib")
        price = pool.get("price_eur_per_hour")
        server_type = pool.get("server_type") or "-"
        if price is not None:
            server_type = f"{server_type} {_money(price)}/h"
        table.add_row(
            str(pool.get("driver", "?")),
            str(pool.get("size_class", "?")),
            str(pool.get("target", 0)),
            str(pool.get("ready", 0)),
            str(pool.get("preparing", 0)),
            str(pool.get("assigning", 0)),
            str(pool.get("failed", 0)),
            _template(pool),
            "-" if budget is None else f"{budget} MiB",
            server_type,
            _money(pool.get("cost_eur_per_hour")),
        )
    return table


@pool_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw answer.")] = False,
) -> None:
    """Per size class and driver: target, slots ready/preparing/failed, template, cost."""
    from orchestrator.cli import _request

    console = Console()
    answer = _request("GET", "/v1/pool")
    if as_json:
        console.print_json(json.dumps(answer))
        return
    console.print(status_table(answer))
    if not answer.get("pools"):
        console.print(
            "no pool configured: set BUREAU_POOL_SIZE (qemu) or BUREAU_HCLOUD_POOL_SIZE (hcloud)"
        )
    total = sum(p.get("cost_eur_per_hour") or 0.0 for p in answer.get("pools", []))
    if total:
        sources = sorted({p["price_source"] for p in answer["pools"] if p.get("price_source")})
        console.print(
            f"pool servers cost about €{total:.4f} per hour, €{total * 730:.2f} per month "
            f"(net, prices from: {', '.join(sources)}; volumes and IPv4 extra)",
            highlight=False,
        )
    for part in answer.get("details", []):
        if part.get("last_error"):
            console.print(
                f"[yellow]{part.get('driver', 'pool')}: last error:[/yellow] {part['last_error']}",
                highlight=False,
            )
