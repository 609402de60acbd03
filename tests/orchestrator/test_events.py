"""``GET /v1/desks/{id}/events``: Server-Sent Events, history first, then live."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import httpx

from tests.orchestrator.conftest import ControlPlane, desk_body
from tests.orchestrator.helpers import create_spec, wait_state


def follow(client: httpx.Client, path: str, into: queue.Queue[dict[str, Any]], **kw: Any) -> None:
    with client.stream("GET", path, **kw) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id = None
        for line in response.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["id"] == event_id
                into.put(data)


def test_events_stream_history_then_live(control_plane: ControlPlane):
    cp = control_plane
    cp.driver.hold("create")
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    with cp.client(cp.new_user("watcher")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        create_spec(cp, desk_id)  # provisioning is under way, held
        reader = threading.Thread(
            target=follow, args=(client, f"/v1/desks/{desk_id}/events", events), daemon=True
        )
        reader.start()
        history = [events.get(timeout=10), events.get(timeout=10)]
        assert [e["to_state"] for e in history] == ["pending", "provisioning"]
        assert events.empty()
        cp.driver.release("create")
        live = [events.get(timeout=10), events.get(timeout=10)]
        assert [(e["kind"], e["to_state"]) for e in live] == [
            ("progress", "provisioning"),
            ("transition", "booting"),
        ]
        client.delete(f"/v1/desks/{desk_id}")
        last = None
        while last is None or last["to_state"] != "deleted":
            last = events.get(timeout=10)
        reader.join(timeout=10)  # the stream ends after the deleted transition
    assert not reader.is_alive()
    assert history[1]["from_state"] == "pending"
    assert set(history[0]) == {"id", "desk_id", "at", "kind", "from_state", "to_state", "message"}


def test_events_resume_after_last_event_id(control_plane: ControlPlane):
    cp = control_plane
    with cp.client(cp.new_user("resumer")) as client:
        desk_id = client.post("/v1/desks", json=desk_body()).json()["id"]
        wait_state(client, desk_id, "booting")
        everything: queue.Queue[dict[str, Any]] = queue.Queue()
        follow(client, f"/v1/desks/{desk_id}/events", everything, params={"follow": "false"})
        all_ids = [e["id"] for e in list(everything.queue)]
        rest: queue.Queue[dict[str, Any]] = queue.Queue()
        follow(
            client,
            f"/v1/desks/{desk_id}/events",
            rest,
            params={"follow": "false"},
            headers={"last-event-id": str(all_ids[1])},
        )
    assert [e["id"] for e in list(rest.queue)] == all_ids[2:]
    assert all_ids == sorted(all_ids)
