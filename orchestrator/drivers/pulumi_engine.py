"""The Pulumi Automation API behind a small interface, so the hcloud driver's logic is testable.

``StackEngine`` is the seam: the hcloud driver speaks only to it, tests give it a fake, and
``AutomationEngine`` is the thin real implementation. Everything the Pulumi SDK raises is
translated here into the driver protocol's errors (``TransientDriverError`` /
``PermanentDriverError``); nothing above this module catches a Pulumi exception.

One project (``bureau-desks``), one stack per desk, an inline program, a passphrase secrets
provider, state in a ``file://`` or ``s3://`` backend, a persistent work directory.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from orchestrator.drivers.base import DriverError, PermanentDriverError, TransientDriverError

PROJECT = "bureau-desks"

#: Receives one short, human-readable line per engine event or notable output line.
ProgressLine = Callable[[str], None]
InlineProgram = Callable[[], None]


class PendingOperationsError(TransientDriverError):
    """The stack holds operations an interrupted run left pending; a refresh clears them."""


class StackEngine(Protocol):
    """Stack operations the hcloud driver needs. Blocking calls: the driver runs them in a thread.

    Every method raises only ``DriverError`` subclasses. ``outputs`` returns ``None`` when the
    stack does not exist; ``destroy``, ``refresh`` and ``remove`` of a missing stack do nothing.
    """

    def prepare(self) -> None:
        """Check the CLI and install the provider plugin (once, before the first operation)."""
        ...

    def up(self, stack: str, program: InlineProgram, progress: ProgressLine) -> dict[str, Any]:
        """Create or update the stack to match ``program``; return its outputs."""
        ...

    def destroy(self, stack: str, progress: ProgressLine) -> None:
        """Delete every resource of the stack (the stack itself stays)."""
        ...

    def refresh(self, stack: str, progress: ProgressLine) -> None:
        """Adopt the cloud's real state; clears pending creates left by an interrupted run."""
        ...

    def outputs(self, stack: str) -> dict[str, Any] | None:
        """The stack's last outputs, or ``None`` when there is no such stack."""
        ...

    def remove(self, stack: str, *, force: bool = False) -> None:
        """Remove the stack and its history from the backend; ``force`` even when its state
        still lists resources (after they were deleted another way)."""
        ...

    def rename(self, stack: str, new_name: str) -> None:
        """Rename ``stack`` (its resources' URNs follow; nothing in the cloud changes). How a
        warm-pool server's stack ``pool-<slot>`` becomes the desk's ``desk-<id>``. Raises a
        ``PermanentDriverError`` when ``stack`` does not exist or ``new_name`` does."""
        ...


# --- error translation -------------------------------------------------------------------------

_TRANSIENT_MARKERS = (
    "429",
    "rate_limit_exceeded",
    "rate limit",
    "conflict",
    "locked",
    "resource_unavailable",
    "server_error",
    "service_error",
    "timeout",
    "timed out",
    "maintenance",
    "unavailable",
    "bad_gateway",
    "502",
    "503",
    "504",
    "connection reset",
    "connection refused",
    "temporary failure",
    "tls handshake",
)
_PENDING_MARKERS = ("pending operation", "interrupted while creating", "pending_operations")
_CONCURRENT_MARKERS = ("concurrent update", "locked by", "another update")
_RETRY_AFTER = re.compile(r"retry[- ]after[:= ]+(\d+)", re.IGNORECASE)
_MAX_MESSAGE = 600


def _last_lines(text: str) -> str:
    """The end of a CLI transcript: where Pulumi puts the error that mattered."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-6:])[-_MAX_MESSAGE:]


def classify_failure(operation: str, text: str) -> DriverError:
    """A Pulumi/Hetzner failure transcript as a transient or permanent driver error."""
    lowered = text.lower()
    summary = _last_lines(text) or "no output"
    if any(marker in lowered for marker in _PENDING_MARKERS):
        return PendingOperationsError(f"pulumi {operation}: interrupted earlier run: {summary}")
    if any(marker in lowered for marker in _CONCURRENT_MARKERS):
        return TransientDriverError(f"pulumi {operation}: stack is busy: {summary}")
    if any(marker in lowered for marker in _TRANSIENT_MARKERS):
        match = _RETRY_AFTER.search(text)
        retry_after = float(match.group(1)) if match else None
        if retry_after is None and ("429" in lowered or "rate_limit" in lowered):
            retry_after = 60.0
        return TransientDriverError(f"pulumi {operation}: {summary}", retry_after=retry_after)
    return PermanentDriverError(f"pulumi {operation} failed: {summary}")


def describe_event(event: Any) -> str | None:
    """One short line for an engine event worth showing (resource steps, errors), else None."""
    pre = getattr(event, "resource_pre_event", None)
    if pre is not None and not getattr(pre, "planning", False):
        meta = pre.metadata
        if _op(meta) not in ("same", "read", "refresh"):
            return f"{_op(meta)} {_resource(meta)}: started"
    done = getattr(event, "res_outputs_event", None)
    if done is not None and not getattr(done, "planning", False):
        meta = done.metadata
        if _op(meta) not in ("same", "read", "refresh"):
            return f"{_op(meta)} {_resource(meta)}: done"
    failed = getattr(event, "res_op_failed_event", None)
    if failed is not None:
        return f"{_op(failed.metadata)} {_resource(failed.metadata)}: failed"
    diagnostic = getattr(event, "diagnostic_event", None)
    if diagnostic is not None and diagnostic.severity in ("error", "warning"):
        message = " ".join(str(diagnostic.message).split())[:_MAX_MESSAGE]
        return f"{diagnostic.severity}: {message}"
    summary = getattr(event, "summary_event", None)
    if summary is not None:
        changes = {str(getattr(op, "value", op)): n for op, n in summary.resource_changes.items()}
        counts = ", ".join(f"{op} {n}" for op, n in sorted(changes.items()) if op != "same")
        return f"pulumi finished in {summary.duration_seconds}s ({counts or 'no changes'})"
    return None


def _op(meta: Any) -> str:
    return str(getattr(meta.op, "value", meta.op))


def _resource(meta: Any) -> str:
    name = str(meta.urn).rsplit("::", 1)[-1]
    kind = str(meta.type).rsplit(":", 1)[-1]
    return f"{kind.lower()} {name}"


def output_line_filter(progress: ProgressLine) -> ProgressLine:
    """CLI output lines go to progress only when they report an error or warning: resource
    steps already arrive as events, and the rest is spinner noise."""

    def forward(line: str) -> None:
        text = line.strip()
        if text and ("error" in text.lower() or "warning" in text.lower()):
            progress(text[:_MAX_MESSAGE])

    return forward


# --- the real engine ---------------------------------------------------------------------------


@dataclass
class AutomationEngine:
    """``StackEngine`` on the Pulumi Automation API (needs the ``pulumi`` CLI on PATH)."""

    backend_url: str
    passphrase: SecretStr
    work_dir: Path
    plugin_version: str
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for the CLI and the provider (``HCLOUD_TOKEN``)."""
    project: str = PROJECT
    _prepared: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self) -> None:
        with self._lock:
            if self._prepared:
                return
            if shutil.which("pulumi") is None:
                raise PermanentDriverError(
                    "the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/"
                    "install/) on every host that runs bureau workers with BUREAU_DRIVER=hcloud"
                )
            self.work_dir.mkdir(parents=True, exist_ok=True)
            if self.backend_url.startswith("file://"):
                Path(self.backend_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
            workspace = self._workspace()
            self._call("install plugin", lambda: workspace.install_plugin("hcloud", self._version))
            self._prepared = True

    def up(self, stack: str, program: InlineProgram, progress: ProgressLine) -> dict[str, Any]:
        self.prepare()
        handle = self._call("stack init", lambda: self._create_or_select(stack, program))
        result = self._call(
            "up",
            lambda: handle.up(
                on_output=output_line_filter(progress),
                on_event=_events_to(progress),
                show_secrets=False,
                color="never",
            ),
        )
        return {name: value.value for name, value in result.outputs.items()}

    def destroy(self, stack: str, progress: ProgressLine) -> None:
        handle = self._select_or_none(stack)
        if handle is not None:
            self._call(
                "destroy",
                lambda: handle.destroy(
                    on_output=output_line_filter(progress),
                    on_event=_events_to(progress),
                    show_secrets=False,
                    color="never",
                ),
            )

    def refresh(self, stack: str, progress: ProgressLine) -> None:
        handle = self._select_or_none(stack)
        if handle is not None:
            self._call(
                "refresh",
                lambda: handle.refresh(
                    clear_pending_creates=True,
                    on_output=output_line_filter(progress),
                    on_event=_events_to(progress),
                    show_secrets=False,
                    color="never",
                ),
            )

    def outputs(self, stack: str) -> dict[str, Any] | None:
        handle = self._select_or_none(stack)
        if handle is None:
            return None
        outputs = self._call("stack output", handle.outputs)
        return {name: value.value for name, value in outputs.items()}

    def remove(self, stack: str, *, force: bool = False) -> None:
        if self._select_or_none(stack) is not None:
            workspace = self._workspace()
            self._call("stack rm", lambda: workspace.remove_stack(stack, force=force or None))

    def rename(self, stack: str, new_name: str) -> None:
        handle = self._select_or_none(stack)
        if handle is None:
            raise PermanentDriverError(f"pulumi stack rename: no stack {stack}")
        if self._select_or_none(new_name) is not None:
            raise PermanentDriverError(f"pulumi stack rename: {new_name} already exists")
        self._call("stack rename", lambda: handle.rename(new_name))

    # --- helpers ---------------------------------------------------------------------------

    @property
    def _version(self) -> str:
        return (
            self.plugin_version
            if self.plugin_version.startswith("v")
            else "v" + self.plugin_version
        )

    def workspace_settings(self, program: InlineProgram | None = None) -> dict[str, Any]:
        """Workspace settings: the project, backend, passphrase provider and environment."""
        from pulumi import automation as auto

        return {
            "work_dir": str(self.work_dir),
            "program": program,
            "secrets_provider": "passphrase",
            "env_vars": self.environment(),
            "project_settings": auto.ProjectSettings(
                name=self.project,
                runtime="python",
                backend=auto.ProjectBackend(url=self.backend_url),
            ),
        }

    def options(self, program: InlineProgram | None = None) -> Any:
        from pulumi import automation as auto

        return auto.LocalWorkspaceOptions(**self.workspace_settings(program))

    def environment(self) -> dict[str, str]:
        return {
            **self.env,
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase.get_secret_value(),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        }

    def _workspace(self) -> Any:
        from pulumi import automation as auto

        return auto.LocalWorkspace(**self.workspace_settings())

    def _create_or_select(self, stack: str, program: InlineProgram) -> Any:
        from pulumi import automation as auto

        return auto.create_or_select_stack(
            stack_name=stack, project_name=self.project, program=program, opts=self.options(program)
        )

    def _select_or_none(self, stack: str) -> Any | None:
        from pulumi import automation as auto

        self.prepare()
        try:
            return auto.select_stack(
                stack_name=stack,
                project_name=self.project,
                program=_no_program,
                opts=self.options(_no_program),
            )
        except auto.errors.StackNotFoundError:
            return None
        except auto.errors.CommandError as exc:
            raise classify_failure("stack select", str(exc)) from None

    def _call(self, operation: str, fn: Callable[[], Any]) -> Any:
        """Run one SDK call; translate its exceptions into driver errors."""
        from pulumi import automation as auto

        try:
            return fn()
        except auto.errors.CommandError as exc:
            raise classify_failure(operation, str(exc)) from None
        except FileNotFoundError as exc:
            raise PermanentDriverError(f"pulumi {operation}: {exc}") from None


def _no_program() -> None:
    """Program for operations that never run one (destroy, refresh, outputs)."""


def _events_to(progress: ProgressLine) -> Callable[[Any], None]:
    def on_event(event: Any) -> None:
        line = describe_event(event)
        if line:
            progress(line)

    return on_event
