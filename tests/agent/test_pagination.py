"""OpenAI list pagination over 250 objects, both orders, with after/before cursors."""

from __future__ import annotations

import openai
import pytest

from tests.agent.conftest import Agent

COUNT = 250


@pytest.fixture
def created_ids(agent: Agent, client: openai.OpenAI) -> list[str]:
    return [client.beta.assistants.create(model="m", name=f"a{i}").id for i in range(COUNT)]


def test_auto_pagination_in_both_orders(client: openai.OpenAI, created_ids: list[str]) -> None:
    desc = [a.id for a in client.beta.assistants.list(limit=7)]
    asc = [a.id for a in client.beta.assistants.list(limit=100, order="asc")]
    assert desc == list(reversed(created_ids))
    assert asc == created_ids


def test_after_and_before_cursors(client: openai.OpenAI, created_ids: list[str]) -> None:
    page = client.beta.assistants.list(limit=20, order="asc", after=created_ids[99])
    assert [a.id for a in page.data] == created_ids[100:120] and page.has_more
    before = client.beta.assistants.list(limit=20, order="asc", before=created_ids[100])
    assert [a.id for a in before.data] == created_ids[80:100]
    desc_after = client.beta.assistants.list(limit=5, after=created_ids[10])
    assert [a.id for a in desc_after.data] == list(reversed(created_ids[5:10]))
    tail = client.beta.assistants.list(limit=100, order="asc", after=created_ids[200])
    assert len(tail.data) == 49 and not tail.has_more


def test_list_shape_has_first_last_and_has_more(client: openai.OpenAI, agent: Agent) -> None:
    ids = [client.beta.assistants.create(model="m").id for _ in range(3)]
    page = client.beta.assistants.list(limit=2, order="asc")
    body = page.model_dump()
    assert (body["first_id"], body["last_id"], body["has_more"]) == (ids[0], ids[1], True)
    assert body["object"] == "list"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"order": "up"}, "order"),
        ({"after": "asst_nope"}, "after"),
    ],
)
def test_bad_list_parameters_are_400(
    client: openai.OpenAI, query: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.beta.assistants.list(**query)  # type: ignore[arg-type]
    assert info.value.param == param


def test_limit_100_is_accepted(client: openai.OpenAI) -> None:
    assert client.beta.assistants.list(limit=100).data == []
