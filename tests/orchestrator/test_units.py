"""Small parts on their own: escrow, redaction, settings, PKI names, the transition table."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from pydantic import ValidationError

from orchestrator.escrow import Escrow
from orchestrator.lifecycle import TRANSITIONS
from orchestrator.models import DeskState
from orchestrator.pki import Pki
from orchestrator.redaction import RedactionFilter, redact
from orchestrator.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_escrow_gives_a_key_once():
    escrow = Escrow(ttl_seconds=60)
    escrow.put("d1", {"provider": "sk-abc"})
    assert escrow.take("d1") == {"provider": "sk-abc"}
    assert escrow.take("d1") is None


def test_escrow_forgets_after_its_ttl():
    clock = Clock()
    escrow = Escrow(ttl_seconds=10, clock=clock)
    escrow.put("d1", {"provider": "sk-abc"})
    clock.now = 11
    assert not escrow.holds("d1")
    assert escrow.take("d1") is None


def test_escrow_zeroes_the_buffer_it_gave_away():
    escrow = Escrow(ttl_seconds=60)
    escrow.put("d1", {"provider": "sk-abc"})
    buffer = escrow._entries["d1"].secrets["provider"]
    escrow.take("d1")
    assert bytes(buffer) == b"\0" * len("sk-abc")


def test_redaction_scrubs_escrowed_values_and_key_shapes():
    text = "keys sk-ant-api03-abcdef and sk-or-v1-123456 and plain hunter2hunter2"
    assert redact(text, ["hunter2hunter2"]) == "keys [redacted] and [redacted] and plain [redacted]"


def test_redaction_filter_rewrites_log_records():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "key %s count %d", ("sk-proj-abcdefgh", 3), None
    )
    RedactionFilter().filter(record)
    assert record.getMessage() == "key [redacted] count 3"


def test_production_refuses_unsafe_settings():
    with pytest.raises(ValidationError, match="BUREAU_ALLOW_HTTP_ENDPOINTS"):
        Settings(environment="production", allow_http_endpoints=True, driver="qemu")
    with pytest.raises(ValidationError, match="BUREAU_TLS=false"):
        Settings(environment="production", tls=False, driver="qemu")


def test_development_accepts_the_defaults():
    settings = Settings(data_dir=Path("x"))
    assert settings.resolved_database_url.endswith("x/bureau.db")
    assert "10.0.2.100" in settings.server_sans()


def test_short_admin_token_is_refused_without_echoing_it():
    with pytest.raises(ValidationError, match="too short") as info:
        Settings(bootstrap_admin_token="short-tok")  # type: ignore[arg-type]
    assert "short-tok" not in str(info.value)


def test_server_certificate_names_loopback_public_host_and_guest_forward(tmp_path: Path):
    pki = Pki(tmp_path, ["localhost", "127.0.0.1", "::1", "cp.example.org", "10.0.2.100"])
    cert = x509.load_pem_x509_certificate(pki.paths.server.read_bytes())
    names = {
        str(n.value)
        for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    }
    assert names == {"localhost", "127.0.0.1", "::1", "cp.example.org", "10.0.2.100"}
    assert oct(pki.paths.ca_key.stat().st_mode & 0o777) == "0o600"


def test_server_certificate_is_reissued_when_names_change(tmp_path: Path):
    first = Pki(tmp_path, ["localhost"]).paths.server.read_bytes()
    again = Pki(tmp_path, ["localhost"]).paths.server.read_bytes()
    changed = Pki(tmp_path, ["localhost", "cp.example.org"]).paths.server.read_bytes()
    assert first == again != changed


def test_every_state_but_deleted_can_be_deleted():
    for state, targets in TRANSITIONS.items():
        if state not in (DeskState.DELETING, DeskState.DELETED):
            assert DeskState.DELETING in targets, state
    assert TRANSITIONS[DeskState.DELETED] == frozenset()


def test_processes_starting_together_agree_on_one_ca(tmp_path: Path):
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: Pki(tmp_path, ["localhost"]), range(4)))
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    server.verify_directly_issued_by(ca)
