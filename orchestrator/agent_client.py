"""Calls from the control plane to desk agents: mutual TLS, pinned to the desk CA and desk id.

Each desk gets its own ``httpx.AsyncClient``: httpx pools connections by origin, not by TLS server
name, so sharing one client could reuse a connection verified for another desk at the same
address. The server name is ``protocol.agent_dns_name(desk_id)``; hostname verification against
the agent's certificate proves the connection reached that desk's agent.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from collections.abc import Callable

import httpx

from orchestrator.protocol import Health, ProviderUpdate, agent_dns_name


class AgentUnreachable(Exception):
    """The agent did not answer, or answered in a way we cannot use; the message says which."""


class AgentClients:
    """A small LRU of per-desk clients sharing one TLS context (desk CA + our client cert)."""

    def __init__(
        self,
        context_factory: Callable[[], ssl.SSLContext],
        *,
        max_clients: int = 256,
        timeout: float = 30.0,
    ) -> None:
        self._context_factory = context_factory
        self._context: ssl.SSLContext | None = None
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._max = max_clients
        self._timeout = timeout
        self._lock = asyncio.Lock()

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = self._context_factory()
        return self._context

    async def client(self, desk_id: str) -> httpx.AsyncClient:
        async with self._lock:
            found = self._clients.get(desk_id)
            if found is not None:
                self._clients.move_to_end(desk_id)
                return found
            client = httpx.AsyncClient(
                verify=self._ssl(),
                timeout=httpx.Timeout(self._timeout, read=None),
                follow_redirects=False,
            )
            self._clients[desk_id] = client
            evicted = []
            while len(self._clients) > self._max:
                evicted.append(self._clients.popitem(last=False)[1])
        for old in evicted:
            await old.aclose()
        return client

    async def forget(self, desk_id: str) -> None:
        async with self._lock:
            client = self._clients.pop(desk_id, None)
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        async with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            await client.aclose()

    @staticmethod
    def extensions(desk_id: str) -> dict[str, str]:
        return {"sni_hostname": agent_dns_name(desk_id)}

    async def health(self, desk_id: str, agent_url: str) -> Health:
        client = await self.client(desk_id)
        try:
            response = await client.get(
                f"{agent_url.rstrip('/')}/desk/v1/health",
                extensions=self.extensions(desk_id),
                timeout=10.0,
            )
        except httpx.HTTPError as exc:
            raise AgentUnreachable(f"health check failed: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise AgentUnreachable(f"health check answered HTTP {response.status_code}")
        try:
            return Health.model_validate_json(response.content)
        except ValueError:
            raise AgentUnreachable("health check answered something that is not Health") from None

    async def push_provider(self, desk_id: str, agent_url: str, update: ProviderUpdate) -> Health:
        """PUT /desk/v1/provider: the key travels in this TLS body only."""
        client = await self.client(desk_id)
        try:
            response = await client.put(
                f"{agent_url.rstrip('/')}/desk/v1/provider",
                content=update.model_dump_json(),
                headers={"content-type": "application/json"},
                extensions=self.extensions(desk_id),
                timeout=30.0,
            )
        except httpx.HTTPError as exc:
            raise AgentUnreachable(
                f"the agent could not be reached: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise AgentUnreachable(f"the agent refused the provider update: {response.status_code}")
        try:
            return Health.model_validate_json(response.content)
        except ValueError:
            raise AgentUnreachable("the agent's answer is not Health") from None
