"""The browser session: an API token sealed in an HttpOnly cookie, plus its CSRF token.

The cookie holds ``{"t": <token encrypted with Fernet>, "c": <csrf token>, "n": <user name>}``
signed and timestamped by itsdangerous. The token is encrypted as well as signed so that it never
appears in clear text outside the server, not even in the browser's cookie store. The server
verifies the token against the API (``GET /v1/me``) at sign-in; afterwards the API itself rejects
a revoked token on every call, and the pages then send the user back to the sign-in form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

SESSION_COOKIE = "bureau_session"
PRESESSION_COOKIE = "bureau_presession"
"""Double-submit CSRF cookie for the sign-in form (before any session exists)."""
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 7 * 24 * 3600
PRESESSION_MAX_AGE = 3600


@dataclass(frozen=True)
class WebSession:
    token: str
    csrf: str
    user_name: str


class SessionCodec:
    """Seals and opens session cookies with one server secret (see ``cookie_secret``)."""

    def __init__(self, secret: bytes) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="bureau-web-session")
        self._presigner = URLSafeTimedSerializer(secret, salt="bureau-web-presession")
        fernet_key = hashlib.sha256(b"bureau-web-fernet:" + secret).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(fernet_key))

    def seal(self, session: WebSession) -> str:
        sealed_token = self._fernet.encrypt(session.token.encode()).decode()
        return self._signer.dumps({"t": sealed_token, "c": session.csrf, "n": session.user_name})

    def open(self, cookie: str | None) -> WebSession | None:
        """The session in ``cookie``, or None when absent, tampered with, expired or unreadable."""
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=SESSION_MAX_AGE)
            token = self._fernet.decrypt(str(data["t"]).encode()).decode()
            return WebSession(token=token, csrf=str(data["c"]), user_name=str(data["n"]))
        except (BadSignature, InvalidToken, KeyError, TypeError, ValueError):
            return None

    def new_presession(self) -> tuple[str, str]:
        """A fresh sign-in CSRF value and the signed cookie that carries it."""
        value = secrets.token_urlsafe(24)
        return value, self._presigner.dumps(value)

    def check_presession(self, cookie: str | None, submitted: str | None) -> bool:
        if not cookie or not submitted:
            return False
        try:
            expected = self._presigner.loads(cookie, max_age=PRESESSION_MAX_AGE)
        except BadSignature:
            return False
        return hmac.compare_digest(str(expected), submitted)


def new_session(token: str, user_name: str) -> WebSession:
    return WebSession(token=token, csrf=secrets.token_urlsafe(24), user_name=user_name)


def csrf_matches(session: WebSession, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """Every Bureau web cookie: HttpOnly, Secure, SameSite=Strict, whole site."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


def codec_of(conn: HTTPConnection) -> SessionCodec:
    codec = getattr(conn.app.state, "bureau_web_codec", None)
    if not isinstance(codec, SessionCodec):
        raise RuntimeError("mount_web() was not called on this app")
    return codec


def session_from_request(conn: HTTPConnection) -> WebSession | None:
    return codec_of(conn).open(conn.cookies.get(SESSION_COOKIE))


def user_token_from_cookie(conn: HTTPConnection) -> str | None:
    """The API token of the browser session on ``conn`` when its cookie is valid.

    Callers must still demand the CSRF header on state-changing requests (``csrf_matches``).
    """
    session = session_from_request(conn)
    return session.token if session else None
