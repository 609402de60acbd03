"""Where and as whom tool commands run, and the environment they get.

- Workspace: ``BUREAU_WORKSPACE_DIR``, else ``/home/desk/workspace`` when it exists, else
  ``<data dir>/workspace``.
- User: ``BUREAU_TOOL_USER``, else ``desk`` when that user exists, else ``nobody`` when the agent
  runs as root, else the agent's own user (development only: then the key file is the agent
  user's own and not protected from tools; the CLI warns).
- As root the agent switches user directly; otherwise it uses ``sudo -n -u USER -H --`` (the
  desk image grants the agent's user exactly that; no capabilities are inherited by tools).
- Environment: a fresh minimal one (PATH, HOME, USER, LANG, TERM), never the agent's own, so no
  ``ASSISTANT_*``/``EMBEDDINGS_*``/token variables reach a tool.
"""

from __future__ import annotations

import contextlib
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from bureau_agent.config import AgentConfig

DESK_WORKSPACE = Path("/home/desk/workspace")
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Sandbox:
    workspace: Path
    user: str | None
    uid: int | None
    gid: int | None
    home: str

    @property
    def switches_user(self) -> bool:
        return self.user is not None and self.uid != os.geteuid()

    def env(self) -> dict[str, str]:
        return {
            "PATH": SAFE_PATH,
            "HOME": self.home,
            "USER": self.user or _current_user(),
            "LOGNAME": self.user or _current_user(),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TERM": "dumb",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def command(self, argv: list[str], time_limit: float) -> list[str]:
        """``argv`` as the tool user: direct when root (see ``popen_user``), else through sudo.

        Through sudo the agent may not signal the tool's processes (another user), so
        coreutils ``timeout`` running as the tool user enforces the limit from inside.
        """
        if self.switches_user and os.geteuid() != 0 and self.user:
            limit = f"{time_limit:g}"
            return ["sudo", "-n", "-u", self.user, "-H", "--", "timeout", "-k", "2", limit, *argv]
        return argv

    def popen_user(self) -> dict[str, object]:
        """Extra ``create_subprocess_exec`` arguments that switch user when we are root.

        A ``preexec_fn`` rather than ``user=``/``group=``: uvloop's subprocess support lacks those.
        """
        if self.switches_user and os.geteuid() == 0 and self.uid is not None:
            uid, gid = self.uid, self.gid if self.gid is not None else self.uid

            def drop() -> None:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)

            return {"preexec_fn": drop}
        return {}

    def own(self, path: Path) -> None:
        """Give a file the agent created to the tool user (root), or make it group-writable."""
        with contextlib.suppress(OSError):
            if os.geteuid() == 0 and self.uid is not None and self.gid is not None:
                os.chown(path, self.uid, self.gid)
            elif self.switches_user:
                os.chmod(path, path.stat().st_mode | 0o060)


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def build_sandbox(config: AgentConfig) -> Sandbox:
    name = config.tool_user
    if name is None:
        if _user("desk") is not None:
            name = "desk"
        elif os.geteuid() == 0:
            name = "nobody"
    entry = _user(name) if name else None
    if name and entry is None:
        raise ValueError(f"BUREAU_TOOL_USER {name!r} does not exist")
    if config.workspace_dir is not None:
        workspace = config.workspace_dir
    elif DESK_WORKSPACE.is_dir():
        workspace = DESK_WORKSPACE
    else:
        workspace = config.data_dir / "workspace"
    sandbox = Sandbox(
        workspace=workspace,
        user=name,
        uid=entry.pw_uid if entry else None,
        gid=entry.pw_gid if entry else None,
        home=str(workspace),
    )
    prepare_workspace(sandbox, config.data_dir)
    return sandbox


def prepare_workspace(sandbox: Sandbox, data_dir: Path) -> None:
    """Create the workspace for the tool user; the data dir stays traversable but not listable."""
    created = not sandbox.workspace.exists()
    sandbox.workspace.mkdir(parents=True, exist_ok=True)
    if sandbox.workspace.is_relative_to(data_dir):
        with contextlib.suppress(OSError):
            os.chmod(data_dir, 0o711)  # noqa: S103 - traversable, not listable
        if created:
            sandbox.own(sandbox.workspace)
            with contextlib.suppress(OSError):
                os.chmod(sandbox.workspace, 0o770 if os.geteuid() != 0 else 0o755)
