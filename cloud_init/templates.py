"""The Jinja2 environment for the files a desk's cloud-config writes (env file, units, rules)."""

from __future__ import annotations

import re
import shlex
from functools import cache
from typing import Any

import jinja2

_PLAIN_ENV_VALUE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")


class TemplateValueError(ValueError):
    """A value cannot be written safely into a generated file (e.g. it holds a newline)."""


def env_value(value: object) -> str:
    """One value of a dotenv / systemd EnvironmentFile: bare when plain, else double-quoted."""
    text = str(value)
    if "\n" in text or "\r" in text or "\x00" in text:
        raise TemplateValueError("environment values cannot contain line breaks or NUL")
    if "${" in text:
        raise TemplateValueError("environment values cannot contain '${' (dotenv interpolation)")
    if _PLAIN_ENV_VALUE.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def shell_quote(value: object) -> str:
    """A POSIX shell word for ``value``; line breaks are refused rather than quoted."""
    text = str(value)
    if "\n" in text or "\r" in text or "\x00" in text:
        raise TemplateValueError("shell values cannot contain line breaks or NUL")
    return shlex.quote(text)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cloud_init", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - shell, systemd and nft files, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["env_value"] = env_value
    env.filters["sh"] = shell_quote
    return env


def render_template(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
