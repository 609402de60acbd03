"""The Files API through the official SDK: upload, list, retrieve, content, delete."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from tests.agent_retrieval.conftest import Agent, AgentFactory, upload


def test_upload_returns_the_file_object(agent: Agent, tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_text("hello world\n")
    with path.open("rb") as handle:
        created = agent.client.files.create(file=handle, purpose="assistants")
    assert created.id.startswith("file_")
    assert (created.filename, created.bytes, created.purpose) == ("hello.txt", 12, "assistants")
    assert created.object == "file" and created.status == "processed"


def test_retrieve_and_content_give_back_the_bytes(agent: Agent, tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    file_id = upload(agent, tmp_path, "blob.bin", data)
    assert agent.client.files.retrieve(file_id).bytes == len(data)
    assert agent.client.files.content(file_id).read() == data


def test_list_pages_with_after_and_filters_by_purpose(agent: Agent, tmp_path: Path) -> None:
    ids = [upload(agent, tmp_path, f"f{i}.txt", f"file {i}") for i in range(3)]
    first = agent.client.files.list(limit=2)
    assert [f.id for f in first.data] == [ids[2], ids[1]] and first.has_more
    rest = agent.client.files.list(limit=2, after=ids[1])
    assert [f.id for f in rest.data] == [ids[0]] and not rest.has_more
    assert agent.client.files.list(purpose="vision").data == []
    assert [f.id for f in agent.client.files.list(order="asc")] == ids


def test_delete_removes_the_file_and_its_bytes(agent: Agent, tmp_path: Path) -> None:
    file_id = upload(agent, tmp_path, "gone.txt", "soon gone")
    deleted = agent.client.files.delete(file_id)
    assert deleted.deleted and deleted.id == file_id
    with pytest.raises(openai.NotFoundError):
        agent.client.files.retrieve(file_id)
    assert not (agent.data_dir / "files" / file_id).exists()


def test_upload_without_purpose_is_a_400_naming_purpose(agent: Agent) -> None:
    bad = httpx.post(f"{agent.url}/v1/files", files={"file": ("a.txt", b"x")}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "purpose"


def test_upload_with_unknown_purpose_is_rejected(agent: Agent, tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("x")
    with pytest.raises(openai.BadRequestError) as caught, path.open("rb") as handle:
        agent.client.files.create(file=handle, purpose="fine-tune-results")  # type: ignore[arg-type]
    assert caught.value.body["param"] == "purpose"  # type: ignore[index]
    assert list((agent.data_dir / "files").iterdir()) == []


def test_upload_above_the_size_limit_is_refused_and_leaves_nothing(
    start_agent: AgentFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUREAU_MAX_UPLOAD_BYTES", "1024")
    with start_agent() as running:
        path = tmp_path / "big.txt"
        path.write_bytes(b"a" * 4096)
        with pytest.raises(openai.BadRequestError) as caught, path.open("rb") as handle:
            running.client.files.create(file=handle, purpose="assistants")
        assert caught.value.body["param"] == "file"  # type: ignore[index]
        assert list((running.data_dir / "files").iterdir()) == []
