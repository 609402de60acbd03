"""The session cookie: sealed, signed, tamper-evident; the sign-in double-submit CSRF value."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from orchestrator.web.cookie_secret import load_cookie_secret
from orchestrator.web.session import SessionCodec, WebSession, csrf_matches, new_session

TOKEN = "bur_test_token_value_1234567890"


def test_sealed_cookie_opens_to_the_same_session() -> None:
    codec = SessionCodec(b"s" * 32)
    session = new_session(TOKEN, "alice")
    assert codec.open(codec.seal(session)) == session


def test_sealed_cookie_does_not_contain_the_token_in_clear() -> None:
    codec = SessionCodec(b"s" * 32)
    assert TOKEN not in codec.seal(new_session(TOKEN, "alice"))


def test_tampered_cookie_is_rejected() -> None:
    codec = SessionCodec(b"s" * 32)
    cookie = codec.seal(new_session(TOKEN, "alice"))
    tampered = cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB")
    assert codec.open(tampered) is None


def test_cookie_from_another_secret_is_rejected() -> None:
    cookie = SessionCodec(b"a" * 32).seal(new_session(TOKEN, "alice"))
    assert SessionCodec(b"b" * 32).open(cookie) is None


def test_csrf_must_match_exactly() -> None:
    session = WebSession(token=TOKEN, csrf="expected", user_name="alice")
    assert csrf_matches(session, "expected")
    assert not csrf_matches(session, "expected2")
    assert not csrf_matches(session, None)


def test_presession_value_checks_only_against_its_own_cookie() -> None:
    codec = SessionCodec(b"s" * 32)
    value, cookie = codec.new_presession()
    other_value, _ = codec.new_presession()
    assert codec.check_presession(cookie, value)
    assert not codec.check_presession(cookie, other_value)
    assert not codec.check_presession(None, value)


def test_cookie_secret_is_kept_in_the_data_dir_with_owner_only_access(tmp_path: Path) -> None:
    class Settings:
        data_dir = tmp_path

    first = load_cookie_secret(Settings())
    assert load_cookie_secret(Settings()) == first
    assert (tmp_path / "web" / "secret").stat().st_mode & 0o777 == 0o600


def test_configured_web_secret_wins_over_the_data_dir(tmp_path: Path) -> None:
    class Settings:
        data_dir = tmp_path
        web_secret = SecretStr("configured-secret-value")

    assert load_cookie_secret(Settings()) == b"configured-secret-value"
    assert not (tmp_path / "web").exists()
