"""The Hetzner pool's security edges, with the real PKI and real TLS servers on loopback: who may
call a pool server, which pool server the control plane accepts, who may enroll a pool identity."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import bureau_agent.pool.identity as agent_identity
import orchestrator.pool.identity as cp_identity
from bureau_agent.enroll import make_key_and_csr
from bureau_agent.pool.identity import PoolIdentity, TlsPoolServer, server_context
from cloud_init.render import build_document
from cloud_init.settings import AgentDist
from orchestrator.drivers.base import DESK_SIZES
from orchestrator.drivers.hcloud import HcloudDriver, HcloudSettings
from orchestrator.drivers.hcloud_inventory import Inventory, make_client
from orchestrator.pki import Pki
from orchestrator.pool.hcloud import (
    HcloudPool,
    HcloudPoolSettings,
    PoolEnrollError,
    PoolError,
    Slot,
    SlotState,
)
from orchestrator.pool.hcloud_seed import pool_bootstrap
from orchestrator.pool.identity import PoolEnrollRequest
from orchestrator.pool.manager import PoolManager
from orchestrator.pool.settings import PoolSettings
from tests.fakes.hetzner import FakeHetzner
from tests.fakes.hetzner_engine import FakeStackEngine
from tests.helpers.servers import free_port, serve_asgi
from tests.pool.agent_doubles import make_resumer
from tests.pool.test_manager_units import _boot

POOL_TOKEN = "pt_" + "k" * 43
API_TOKEN = "hcloud-unit-test-token-0123"


def _dist() -> AgentDist:
    return AgentDist(
        version="0.1.0", filename="bureau_agent-0.1.0-py3-none-any.whl", sha256="0" * 64
    )


def _pool(
    pki: Pki,
    *,
    hetzner: FakeHetzner | None = None,
    api_url: str = "http://127.0.0.1:9",
    **settings: object,
) -> HcloudPool:
    driver = HcloudDriver(
        HcloudSettings(
            token=API_TOKEN,
            pulumi_passphrase="p" * 20,
            control_plane_cidrs=("203.0.113.5/32",),
            api_endpoint=api_url,
            plugin_version="1.43.3",
        ),
        FakeStackEngine(hetzner or FakeHetzner()),
        Inventory(make_client(API_TOKEN, api_url)),
    )
    return HcloudPool(
        driver,
        settings=HcloudPoolSettings(size=1, **settings),  # type: ignore[arg-type]
        control_plane_url="https://127.0.0.1:8443",
        control_plane_ca_pem=pki.ca_pem,
        agent_dist=_dist,
        client_context=pki.agent_client_context,
        sign_csr=pki.sign_agent_csr,
        desk_ca_pem=pki.desk_ca_pem,
    )


def _slot(slot_id: str, token: str = POOL_TOKEN, state: SlotState = SlotState.BOOTING) -> Slot:
    return Slot(
        slot_id=slot_id,
        size_class="small",
        server_type="cx23",
        state=state,
        created_at=time.time(),
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        outputs={"ipv4": "127.0.0.1", "pool": {"agent_port": 0, "location": "nbg1"}},
    )


def _enroll(pool: HcloudPool, slot_id: str, token: str = POOL_TOKEN) -> PoolIdentity:
    key_pem, csr_pem = make_key_and_csr(cp_identity.pool_identity_name(slot_id))
    answer = pool.enroll_identity(
        PoolEnrollRequest(
            slot_id=slot_id,
            pool_token=token,  # type: ignore[arg-type]
            csr_pem=csr_pem,
            agent_version="test",
        )
    )
    return PoolIdentity(slot_id, key_pem, answer.certificate_pem, answer.ca_pem)


@dataclass
class Served:
    url: str
    port: int
    resumer_log: list[str]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "tls", ["127.0.0.1"])


@pytest.fixture
def served(tmp_path: Path, pki: Pki) -> Iterator[tuple[HcloudPool, Served]]:
    """A pool server with the identity of slot ``pabc1234`` on loopback (mutual TLS)."""
    pool = _pool(pki)
    pool.slots["pabc1234"] = _slot("pabc1234")
    identity = _enroll(pool, "pabc1234")
    resumer, system, _ = make_resumer(tmp_path / "root")
    port = free_port()
    server = TlsPoolServer(("127.0.0.1", port), resumer, server_context(identity), hand_off=False)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve_until_stopped, args=(stop,), daemon=True)
    thread.start()
    pool.driver.agent_url_for = lambda ip, _port: f"https://127.0.0.1:{port}"
    try:
        yield pool, Served(f"https://127.0.0.1:{port}", port, system.log)
    finally:
        stop.set()
        thread.join(5)
        server.server_close()


def test_the_control_plane_reaches_its_pool_server_over_mutual_tls(
    served: tuple[HcloudPool, Served],
) -> None:
    pool, _ = served
    assert asyncio.run(pool.health(pool.slots["pabc1234"])) == "unassigned"


def test_a_pool_server_with_another_slots_certificate_is_refused(
    served: tuple[HcloudPool, Served],
) -> None:
    pool, _ = served
    impostor = _slot("pzzz9999")  # the server at that address holds pool-pabc1234's certificate
    with pytest.raises(PoolError, match="unreachable"):
        asyncio.run(pool.health(impostor))


def test_a_caller_without_the_control_planes_client_certificate_is_refused(
    served: tuple[HcloudPool, Served], pki: Pki
) -> None:
    _, server = served
    context = ssl.create_default_context(cafile=str(pki.paths.desk_ca))
    context.check_hostname = False
    with pytest.raises(httpx.HTTPError), httpx.Client(verify=context) as client:
        client.get(f"{server.url}/pool/v1/health")


def test_a_desk_agents_certificate_cannot_call_a_pool_server(
    served: tuple[HcloudPool, Served], pki: Pki, tmp_path: Path
) -> None:
    """Signed by the same desk CA, but serverAuth only: not a client certificate."""
    _, server = served
    key_pem, csr_pem = make_key_and_csr("d0123456789abcdef0")
    (tmp_path / "desk.key").write_bytes(key_pem)
    (tmp_path / "desk.crt").write_text(pki.sign_agent_csr(csr_pem, "d0123456789abcdef0"))
    context = ssl.create_default_context(cafile=str(pki.paths.desk_ca))
    context.check_hostname = False
    context.load_cert_chain(str(tmp_path / "desk.crt"), str(tmp_path / "desk.key"))
    with pytest.raises(httpx.HTTPError), httpx.Client(verify=context) as client:
        client.post(f"{server.url}/pool/v1/resume", content=b"{}")
    assert server.resumer_log == []


def test_pool_enrollment_needs_the_slots_own_unused_token(pki: Pki) -> None:
    pool = _pool(pki)
    pool.slots["pone0001"] = _slot("pone0001")
    pool.slots["ptwo0002"] = _slot("ptwo0002", token="pt_" + "o" * 43)
    with pytest.raises(PoolEnrollError) as wrong:
        _enroll(pool, "ptwo0002")  # slot one's token for slot two
    assert wrong.value.status == 401
    _enroll(pool, "pone0001")
    with pytest.raises(PoolEnrollError):
        _enroll(pool, "pone0001")  # single use
    with pytest.raises(PoolEnrollError):
        _enroll(pool, "punknown1")
    assert pool.slots["pone0001"].state == SlotState.ENROLLED
    assert pool.slots["ptwo0002"].state == SlotState.BOOTING


def test_the_pool_certificate_is_named_after_its_slot_and_cannot_be_a_desk(pki: Pki) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pool = _pool(pki)
    pool.slots["pname001"] = _slot("pname001")
    cert = x509.load_pem_x509_certificate(_enroll(pool, "pname001").certificate_pem.encode())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "pool-pname001" and "-" in cn  # desk ids (models.new_id) never contain '-'
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_identity_wire_shapes_match_on_both_sides() -> None:
    for name in ("PoolEnrollRequest", "PoolEnrollResponse"):
        ours = getattr(cp_identity, name).model_json_schema()
        theirs = getattr(agent_identity, name).model_json_schema()
        assert ours == theirs, name
    assert cp_identity.SLOT_PATTERN == agent_identity.SLOT_PATTERN


def test_the_pool_bootstrap_installs_the_agent_but_starts_the_pool_unit() -> None:
    cold = next(
        f["content"]
        for f in build_document(_boot())["write_files"]
        if f["path"] == "/usr/local/sbin/bureau-bootstrap"
    )
    script = pool_bootstrap(cold)
    steps = script.rpartition("# --- main ---")[2].split()
    assert steps[-2:] == ["install_agent", "start_pool"]
    assert "start_agent" not in steps
    with pytest.raises(ValueError):
        pool_bootstrap(cold.replace("\nstart_agent", "\nstart_agent\nsomething_new"))


def test_the_hetzner_pool_status_prices_its_servers(pki: Pki) -> None:
    pool = _pool(pki, size_classes="small,large", prices="cx43=0.02")
    pool.slots["pready01"] = _slot("pready01", state=SlotState.READY)
    rows = {row["size_class"]: row for row in pool.status()["pools"]}
    assert rows["small"]["ready"] == 1 and rows["small"]["target"] == 1
    assert rows["small"]["cost_eur_per_hour"] == pytest.approx(0.0064)  # the table's
    assert rows["small"]["price_source"] == "table"
    assert rows["large"]["server_type"] == DESK_SIZES["large"].hcloud_server_type
    assert rows["large"]["cost_eur_per_hour"] == pytest.approx(0.02)
    assert rows["large"]["price_source"] == "settings"


def test_the_qemu_pool_status_reports_template_and_memory_budget(tmp_path: Path) -> None:
    manager = PoolManager(tmp_path, settings=PoolSettings(size=2, memory_budget_mib=3072))
    (manager.slots_dir / "slot-1.partial").mkdir(parents=True)
    row = manager.status()["pools"][0]
    assert row["driver"] == "qemu" and row["size_class"] == "small"
    assert row["target"] == 2 and row["ready"] == 0 and row["preparing"] == 1
    assert row["template"] == {"state": "missing"}
    assert row["memory_budget_mib"] == 3072


def test_pool_enrollment_retries_an_unreachable_control_plane_but_not_a_refusal() -> None:
    attempts: list[str] = []
    outcomes: list[PoolIdentity | Exception] = [
        agent_identity.PoolEnrollError("cannot reach the control plane at https://cp: refused"),
        agent_identity.PoolEnrollError("refused: HTTP 404: no Hetzner pool here", status=404),
        PoolIdentity("pabc1234", b"k", "cert", "ca"),
    ]

    def attempt() -> PoolIdentity:
        attempts.append("try")
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    sleeps: list[float] = []
    identity = agent_identity.enroll_with_retries(attempt, sleep=sleeps.append, log=lambda _: None)
    assert identity.slot_id == "pabc1234" and len(attempts) == 3 and sleeps == [1.0, 2.0]

    def refused() -> PoolIdentity:
        raise agent_identity.PoolEnrollError("refused: HTTP 401: used", status=401)

    with pytest.raises(agent_identity.PoolEnrollError, match="401"):
        agent_identity.enroll_with_retries(refused, sleep=sleeps.append, log=lambda _: None)
    assert sleeps == [1.0, 2.0]


def test_a_resumed_pool_server_restarting_does_not_enroll_again(tmp_path: Path) -> None:
    """After a reboot it leaves the desk to bureau-agent.service (no pool token is read)."""
    mark = tmp_path / "var/lib/bureau-pool/resumed"
    mark.parent.mkdir(parents=True)
    mark.write_text("1\n")
    argv = ["--slot-id", "pabc1234", "--control-plane-url", "https://127.0.0.1:9", "--port", "0"]
    missing_token = tmp_path / "no-such-pool-token"
    args = [*argv, "--root", str(tmp_path), "--token-file", str(missing_token)]
    assert agent_identity.main(args) == 0


def test_a_failing_creation_backs_off_instead_of_retrying_at_once(pki: Pki) -> None:
    from orchestrator.drivers.base import PermanentDriverError

    hetzner = FakeHetzner(token=API_TOKEN)
    with serve_asgi(hetzner.app) as api:
        pool = _pool(pki, hetzner=hetzner, api_url=api.url)
        engine = pool.driver.engine
        assert isinstance(engine, FakeStackEngine)
        engine.fail_next("up", PermanentDriverError("hetzner: server limit reached (quota)"))
        asyncio.run(pool.refill())
        asyncio.run(pool.refill())  # within the back-off: none created, the failed slot goes
        assert [call[0] for call in engine.calls].count("up") == 1
        assert pool.slots == {} and "quota" in pool.stats.last_error
        pool._create_after = 0.0  # the back-off is over
        asyncio.run(pool.refill())
        assert [s.state for s in pool.slots.values()] == [SlotState.BOOTING]
        assert len(hetzner.labelled("pool-slot")["servers"]) == 1


def test_a_fresh_pool_server_without_a_stack_gets_time_before_it_counts_as_an_orphan(
    pki: Pki,
) -> None:
    from orchestrator.drivers.hcloud_inventory import DeskInventory
    from orchestrator.pool.hcloud import ORPHAN_GRACE_SECONDS, _younger_than

    @dataclass
    class _Server:
        created: str

    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    old = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3600))
    assert _younger_than(DeskInventory("p1", servers=[_Server(now)]), ORPHAN_GRACE_SECONDS)
    assert not _younger_than(DeskInventory("p1", servers=[_Server(old)]), ORPHAN_GRACE_SECONDS)
