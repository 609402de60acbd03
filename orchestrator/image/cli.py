"""`bureau image ...`: build and inspect the guest image of local (qemu) desks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from orchestrator.image.builder import Source, build_image
from orchestrator.image.errors import ImageBuildError
from orchestrator.image.settings import DEFAULT_IMAGE_NAME, ImageSettings
from orchestrator.image.store import installed_image

image_app = typer.Typer(
    help="Build and inspect the guest image of local desks.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Bureau data directory (default: $BUREAU_DATA_DIR or ./.bureau)"
    ),
]
Name = Annotated[str, typer.Option("--name", help="Image name under <data-dir>/images/")]


def _data_dir(value: Path | None) -> Path:
    return value or Path(os.environ.get("BUREAU_DATA_DIR", ".bureau"))


@image_app.command("build")
def build(
    data_dir: DataDir = None,
    name: Name = DEFAULT_IMAGE_NAME,
    source: Annotated[
        str, typer.Option(help="offline: debootstrap (root); online: Debian genericcloud download")
    ] = "offline",
    force: Annotated[
        bool, typer.Option(help="Rebuild even when the cache holds this recipe")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print every build line")
    ] = False,
) -> None:
    """Build the guest image (cached by recipe + agent sources) and install it for qemu."""
    if source not in ("offline", "online"):
        raise typer.BadParameter("--source must be offline or online")
    console = Console(stderr=True, log_path=False)
    settings = ImageSettings()
    with console.status("building image…") as status:

        def progress(line: str) -> None:
            if line.startswith("stage: "):
                console.log(f"[bold]{line[7:]}")
            elif verbose:
                console.log(line, markup=False, highlight=False)
            status.update(f"[dim]{line[:110]}", spinner="dots")

        try:
            directory, manifest = build_image(
                _data_dir(data_dir),
                name=name,
                source=_source(source),
                settings=settings,
                progress=progress,
                force=force,
            )
        except ImageBuildError as exc:
            console.print(f"[red]image build failed:[/red] {exc}", markup=True, highlight=False)
            raise typer.Exit(1) from exc
    console.print(f"image [bold]{name}[/bold] ready in {directory} (key {manifest.key})")


@image_app.command("show")
def show(data_dir: DataDir = None, name: Name = DEFAULT_IMAGE_NAME) -> None:
    """Print an installed image's manifest."""
    found = installed_image(_data_dir(data_dir), name)
    if found is None:
        typer.echo(f"no image {name!r}; run `bureau image build`", err=True)
        raise typer.Exit(1)
    directory, manifest = found
    table = Table(title=f"{name} ({directory})")
    table.add_column("field")
    table.add_column("value")
    for field in ("source", "key", "boot", "agent_version", "python_version", "built_at"):
        table.add_row(field, str(getattr(manifest, field)))
    for package, version in manifest.packages.items():
        table.add_row(package, version)
    for filename, entry in manifest.files.items():
        table.add_row(filename, f"{entry.bytes} bytes sha256:{entry.sha256[:16]}…")
    Console().print(table)


def _source(value: str) -> Source:
    return "online" if value == "online" else "offline"
