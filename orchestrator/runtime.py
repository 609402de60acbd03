"""Everything a control-plane process holds: built once by the app factory or ``bureau worker``."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.agent_client import AgentClients
from orchestrator.db import Database
from orchestrator.dist import AgentDistStore
from orchestrator.drivers.base import Driver
from orchestrator.drivers.factory import load_driver
from orchestrator.escrow import Escrow
from orchestrator.lifecycle import Notifier
from orchestrator.migrate import upgrade
from orchestrator.pki import Pki
from orchestrator.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    pki: Pki
    escrow: Escrow
    driver: Driver
    agents: AgentClients
    dist: AgentDistStore
    notifier: Notifier = field(default_factory=Notifier)

    def close_sync(self) -> None:
        self.db.dispose()


def build_runtime(
    settings: Settings, *, driver: Driver | None = None, escrow: Escrow | None = None
) -> Runtime:
    """Create the data dir, migrate the database, load the PKI and the driver."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    upgrade(db)
    pki = Pki(settings.tls_dir, settings.server_sans())
    return Runtime(
        settings=settings,
        db=db,
        pki=pki,
        escrow=escrow or Escrow(ttl_seconds=settings.escrow_ttl_seconds),
        driver=driver or load_driver(settings.driver, settings.data_dir),
        agents=AgentClients(pki.agent_client_context),
        dist=AgentDistStore(settings.dist_dir, settings.agent_source_dir),
    )
