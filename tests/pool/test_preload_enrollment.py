"""The pool template preloads what the clone's enrollment imports (issue 9: ready time).

A clone enrolls between the reseed and serving; every module it imports then costs it (under TCG,
tens of milliseconds each). The template's preload builds one throwaway ``httpx.Client`` so that
httpx's sync transport is already loaded. Checked in a fresh interpreter (this one has imported
everything already), enrolling for real over TLS with the enrollment double and the real PKI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.pki import Pki
from tests.helpers.servers import serve_asgi
from tests.pool.enroll_double import Enrollments, enroll_app

TRANSPORT = ("httpcore", "h11", "certifi")
CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from bureau_agent.config import load_config
    from bureau_agent.enroll import enroll
    from bureau_agent.pool.__main__ import _import_enrollment_client

    if sys.argv[2] == "warm":
        _import_enrollment_client()
    config = load_config(Path(sys.argv[1]))
    before = set(sys.modules)
    answer = enroll(config)
    print(json.dumps({"desk": answer.desk_id, "new": sorted(set(sys.modules) - before)}))
    """
)


def _enroll_in_fresh_interpreter(tmp_path: Path, warm: bool) -> dict[str, object]:
    pki = Pki(tmp_path / "pki", ["127.0.0.1"])
    enrollments = Enrollments()
    desk_id = "dsk_preload"
    enrollments.tokens[desk_id] = "bootstrap-token-preload"
    (tmp_path / "token").write_text("bootstrap-token-preload\n")
    (tmp_path / "ca.pem").write_text(pki.ca_pem)
    with serve_asgi(
        enroll_app(pki, enrollments), certfile=pki.paths.server, keyfile=pki.paths.server_key
    ) as server:
        env_file = tmp_path / "agent.env"
        env_file.write_text(
            f"BUREAU_AGENT_DATA_DIR={tmp_path / 'agent'}\n"
            f"BUREAU_DESK_ID={desk_id}\n"
            f"BUREAU_CONTROL_PLANE_URL={server.url}\n"
            f"BUREAU_CONTROL_PLANE_CA_FILE={tmp_path / 'ca.pem'}\n"
            f"BUREAU_BOOTSTRAP_TOKEN_FILE={tmp_path / 'token'}\n"
        )
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("BUREAU_")}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(env_file), "warm" if warm else "cold"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=child_env,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["desk"] == desk_id
    assert desk_id not in enrollments.tokens  # the token was spent: a real enrollment
    return result


def _transport_modules(result: dict[str, object]) -> list[str]:
    new = result["new"]
    assert isinstance(new, list)
    return [name for name in new if str(name).split(".")[0] in TRANSPORT]


@pytest.mark.parametrize("warm", [False, True], ids=["without-preload", "after-preload"])
def test_the_enrollment_imports_no_transport_module_after_the_preload(
    tmp_path: Path, warm: bool
) -> None:
    loaded = _transport_modules(_enroll_in_fresh_interpreter(tmp_path, warm))
    if warm:
        assert loaded == []
    else:  # the control: what the preload saves a clone is real
        assert "httpcore" in loaded and "h11" in loaded
