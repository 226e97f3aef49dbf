"""Configuration from ``YAOLIAN_*`` environment variables, read by the application factory (never at import)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Known only to refuse them: earlier versions fell back to these published values outside production.
DEV_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
DEV_PSEUDONYM_KEY = "development-only-pseudonymisation-key-0123456789abcdef"
PUBLISHED = frozenset({DEV_SECRET_KEY, DEV_PSEUDONYM_KEY})
MIN_SECRET_LENGTH = 32
ENVIRONMENTS = ("development", "test", "production")


class ConfigError(RuntimeError):
    """The configuration cannot run the platform safely."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def instance_secret(instance: Path, name: str) -> str:
    """Return this instance's own random secret ``name``, made on first use (mode 0600, never overwritten).

    Outside production, a secret not given in the environment comes from here rather than from a value in the
    source: a development or demo instance is then no easier to sign cookies for, or to reverse pseudonyms of, than
    any other. Processes starting together (gunicorn workers) end up with the one secret: it is written to a
    temporary file and linked into place only if no other process linked one first.
    """
    path = instance / name
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        temporary = instance / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            temporary.unlink()
    value = path.read_text().strip()
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{path} holds a secret shorter than {MIN_SECRET_LENGTH} characters: remove it or fix it")
    return value


def load_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask configuration from the environment.

    Production needs both secrets in the environment. Elsewhere a secret not given is the instance's own random one
    (``instance_secret``); a published development value is refused everywhere.
    """
    env = os.environ if env is None else env
    mode = env.get("YAOLIAN_ENV", "development")
    if mode not in ENVIRONMENTS:
        raise ConfigError(f"YAOLIAN_ENV must be one of {', '.join(ENVIRONMENTS)}, got {mode!r}")
    instance = Path(env.get("YAOLIAN_INSTANCE_PATH") or PROJECT_ROOT / "instance").resolve()
    secret = env.get("YAOLIAN_SECRET_KEY") or ""
    pseudonym_key = env.get("YAOLIAN_PSEUDONYM_KEY") or ""
    if secret in PUBLISHED or pseudonym_key in PUBLISHED:
        raise ConfigError("YAOLIAN_SECRET_KEY and YAOLIAN_PSEUDONYM_KEY must not be the published development values")
    if mode == "production":
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"production needs YAOLIAN_SECRET_KEY: a random value of at least {MIN_SECRET_LENGTH} characters"
            )
        if len(pseudonym_key) < MIN_SECRET_LENGTH:
            raise ConfigError(f"production needs YAOLIAN_PSEUDONYM_KEY of at least {MIN_SECRET_LENGTH} characters")
    for name, value in (("YAOLIAN_SECRET_KEY", secret), ("YAOLIAN_PSEUDONYM_KEY", pseudonym_key)):
        if value and len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{name} must be at least {MIN_SECRET_LENGTH} characters")
    locale = env.get("YAOLIAN_LOCALE", "zh_CN")
    if locale not in ("zh_CN", "en"):
        raise ConfigError(f"YAOLIAN_LOCALE must be zh_CN or en, got {locale!r}")
    return {
        "YAOLIAN_ENV": mode,
        "DEBUG": False,
        "TESTING": mode == "test",
        "SECRET_KEY": secret or instance_secret(instance, "session-secret-key"),
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": env.get("YAOLIAN_DATABASE_URL") or f"sqlite:///{instance / 'yaolian.db'}",
        "SIGNING_KEY_PATH": env.get("YAOLIAN_SIGNING_KEY_PATH") or str(instance / "ledger-signing-key.pem"),
        "PSEUDONYM_KEY": (pseudonym_key or instance_secret(instance, "pseudonym-key")).encode("utf-8"),
        "BABEL_DEFAULT_LOCALE": locale,
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "MAX_CONTENT_LENGTH": _int(env, "YAOLIAN_MAX_CONTENT_LENGTH", 16 * 1024 * 1024),
        "LOGIN_MAX_FAILURES_PER_USER": _int(env, "YAOLIAN_LOGIN_MAX_FAILURES_PER_USER", 5),
        "LOGIN_MAX_FAILURES_PER_IP": _int(env, "YAOLIAN_LOGIN_MAX_FAILURES_PER_IP", 20),
        "LOGIN_WINDOW_SECONDS": _int(env, "YAOLIAN_LOGIN_WINDOW_SECONDS", 900),
        "TOKEN_DEFAULT_TTL_DAYS": _int(env, "YAOLIAN_TOKEN_DEFAULT_TTL_DAYS", 30),
        "TOKEN_MAX_TTL_DAYS": _int(env, "YAOLIAN_TOKEN_MAX_TTL_DAYS", 365),
        # An audit run with no heartbeat for this long, whose process is on another host, is marked interrupted.
        "AUDIT_RUN_STALE_MINUTES": _int(env, "YAOLIAN_AUDIT_RUN_STALE_MINUTES", 120),
        # Reverse proxies in front of the app whose X-Forwarded-For / -Proto are trusted (0: none, the default).
        "PROXY_HOPS": _int(env, "YAOLIAN_PROXY_HOPS", 0),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": mode == "production",
        "REMEMBER_COOKIE_SECURE": mode == "production",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    }
