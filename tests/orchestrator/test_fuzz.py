"""Schemathesis over the control plane's OpenAPI schema: generated input never gets a 5xx
(bounded: a handful of examples per operation). 502 is allowed only where the control plane
calls out to a provider (the answer says the provider could not be reached)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.orchestrator.conftest import ControlPlane

OUTBOUND = {"/v1/providers/{provider}/models", "/v1/desks", "/v1/desks/{desk_id}/provider"}


def test_generated_requests_never_get_a_server_error(module_control_plane: ControlPlane):
    cp = module_control_plane
    cp.runtime.settings.provider_timeout_seconds = 2.0
    for name in ("openai_api_base", "anthropic_api_base", "openrouter_api_base"):
        setattr(cp.runtime.settings, name, "http://127.0.0.1:9/v1")  # nothing listens: fast 502
    with cp.client() as client:
        schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    failures: list[str] = []
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15

    for operation in operations:

        @settings(
            max_examples=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {cp.admin_token}"}
            if case.path.endswith("/events"):
                case.query = {**(case.query or {}), "follow": "false"}
            response = case.call(base_url=cp.url, verify=str(cp.ca), timeout=20)
            statuses.append(response.status_code)
            allowed = response.status_code == 502 and case.path in OUTBOUND
            if response.status_code >= 500 and not allowed:
                failures.append(
                    f"{case.method} {case.path} -> {response.status_code}: {response.text[:200]}"
                )

        check()
    assert failures == []
    assert len(statuses) >= 3 * len(operations) and 422 in statuses
