"""Request budgets: desk creations, key updates and model listings per user, enrollment per
address; counted in memory or in Redis (shared by replicas); a Redis outage lets requests through.

Rate limiting does not touch the database, so these tests run on SQLite only."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.settings import Settings
from tests.orchestrator.conftest import desk_body, running_control_plane

REDIS = ("127.0.0.1", 6379)


def _redis_answers() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


needs_redis = pytest.mark.skipif(
    not _redis_answers(), reason="no Redis answers on 127.0.0.1:6379 (CI runs one there)"
)


def test_desk_creation_beyond_the_budget_answers_429_with_retry_after(
    tmp_path: Path, agent_wheel: Path
):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with running_control_plane(tmp_path, url, agent_wheel, rate_limit_desk_create="2/minute") as cp:
        with cp.client(cp.new_user("busy")) as client:
            answers = [client.post("/v1/desks", json=desk_body(f"d{n}")) for n in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    refused = answers[2]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    detail = refused.json()["detail"]
    assert detail.startswith("too many desk creations (2 per minute): try again in ")


def test_one_users_budget_does_not_spend_anothers(tmp_path: Path, agent_wheel: Path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with running_control_plane(tmp_path, url, agent_wheel, rate_limit_desk_create="1/minute") as cp:
        with cp.client(cp.new_user("first")) as first, cp.client(cp.new_user("second")) as second:
            assert first.post("/v1/desks", json=desk_body("a")).status_code == 201
            assert first.post("/v1/desks", json=desk_body("b")).status_code == 429
            assert second.post("/v1/desks", json=desk_body("c")).status_code == 201


def test_model_listing_is_limited_per_user(tmp_path: Path, agent_wheel: Path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with running_control_plane(
        tmp_path, url, agent_wheel, rate_limit_provider_check="1/minute"
    ) as cp:
        with cp.client(cp.new_user("picker")) as client:
            body = {"api_key": "not-a-valid-openai-key"}
            first = client.post("/v1/providers/openai/models", json=body)
            second = client.post("/v1/providers/openai/models", json=body)
    assert first.status_code == 422  # counted before the key is even looked at
    assert second.status_code == 429


def test_enrollment_attempts_are_limited_per_address(tmp_path: Path, agent_wheel: Path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with running_control_plane(tmp_path, url, agent_wheel, rate_limit_enroll="2/minute") as cp:
        with cp.client() as anonymous:
            body = {"bootstrap_token": "bt_" + secrets.token_hex(16), "csr_pem": "nope"}
            codes = [anonymous.post("/v1/agent/enroll", json=body).status_code for _ in range(3)]
    assert 429 not in codes[:2] and codes[2] == 429


def test_an_empty_rule_turns_a_limit_off(tmp_path: Path, agent_wheel: Path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with running_control_plane(tmp_path, url, agent_wheel, rate_limit_desk_create="") as cp:
        with cp.client(cp.new_user("bulk")) as client:
            codes = {
                client.post("/v1/desks", json=desk_body(f"d{n}")).status_code for n in range(5)
            }
    assert codes == {201}


@needs_redis
def test_replicas_sharing_redis_share_one_budget(tmp_path: Path, agent_wheel: Path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    limits: dict[str, Any] = {
        "rate_limit_storage": "redis://127.0.0.1:6379/0",
        "rate_limit_desk_create": "2/minute",
    }
    with (
        running_control_plane(tmp_path, url, agent_wheel, **limits) as one,
        running_control_plane(tmp_path, url, agent_wheel, fresh_admin=False, **limits) as two,
    ):
        token = one.new_user(f"shared-{secrets.token_hex(4)}")
        with one.client(token) as via_one, two.client(token) as via_two:
            codes = [
                via_one.post("/v1/desks", json=desk_body("a")).status_code,
                via_two.post("/v1/desks", json=desk_body("b")).status_code,
                via_two.post("/v1/desks", json=desk_body("c")).status_code,
            ]
    assert codes == [201, 201, 429]


def test_an_unreachable_redis_lets_requests_through(
    tmp_path: Path, agent_wheel: Path, caplog: pytest.LogCaptureFixture
):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"  # bound, never listening
        with running_control_plane(
            tmp_path, url, agent_wheel, rate_limit_storage=dead, rate_limit_desk_create="1/minute"
        ) as cp:
            with cp.client(cp.new_user("outage")) as client:
                codes = [
                    client.post("/v1/desks", json=desk_body(f"d{n}")).status_code for n in range(2)
                ]
    assert codes == [201, 201]
    assert "rate limit storage unavailable" in caplog.text


@pytest.mark.parametrize("rule", ["5 per fortnight", "many/minute", "10/lightyear"])
def test_a_malformed_rule_is_refused_with_the_format(rule: str):
    with pytest.raises(ValidationError, match="write N/second, N/minute, N/hour or N/day"):
        Settings(rate_limit_desk_create=rule)


def test_a_storage_that_is_not_memory_or_redis_is_refused():
    with pytest.raises(ValidationError, match=r"memory:// or a redis:// URL"):
        Settings(rate_limit_storage="memcached://127.0.0.1:11211")
