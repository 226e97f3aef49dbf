#!/usr/bin/env python3
"""The two commands: ``python3 scripts/dev.py run`` and ``python3 scripts/dev.py test``.

Standard library only, so it works on a fresh machine with nothing but Python 3.11: it creates ``.venv``,
installs the pinned requirements (again only when requirements.txt changes), compiles the translations, then
either migrates, loads the demo data into an empty database and serves on http://127.0.0.1:8000, or runs the
linters and the whole test suite (pytest arguments pass through).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PY = BIN / "python"
STAMP = VENV / ".requirements.sha256"


def _run(*cmd: str | Path, **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, **kwargs)


def ensure_environment() -> None:
    """Create the virtual environment and install the pinned requirements when they changed."""
    if sys.version_info[:2] != (3, 11):
        print(f"warning: Yaolian targets Python 3.11; this is {sys.version.split()[0]}", file=sys.stderr)
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        _run(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", ROOT / "requirements.txt")
        STAMP.write_text(wanted)
    _run(BIN / "pybabel", "compile", "--statistics", "-d", ROOT / "webui" / "translations")


def serve() -> int:
    """Migrate, load demo data if empty, print the URL and demo logins, and serve with gunicorn."""
    ensure_environment()
    _run(PY, "-m", "scripts.manage", "migrate")
    _run(PY, "-m", "scripts.manage", "load-demo", "--if-empty")
    _run(PY, "-m", "scripts.manage", "demo-logins")
    print("\nYaolian is running at http://127.0.0.1:8000  (Ctrl+C stops it)\n", flush=True)
    os.chdir(ROOT)
    args = [str(BIN / "gunicorn"), "--bind", "127.0.0.1:8000", "--workers", "2", "--no-control-socket"]
    access = '%(h)s "%(r)s" %(s)s %(b)sB %(M)sms request_id=%({x-request-id}o)s'
    os.execv(args[0], [*args, "--access-logfile", "-", "--access-logformat", access, "wsgi:app"])


def test(pytest_args: list[str]) -> int:
    """Lint, then run every test (PostgreSQL too when YAOLIAN_TEST_POSTGRES_URL is set)."""
    ensure_environment()
    _run(BIN / "ruff", "check", ".")
    _run(BIN / "ruff", "format", "--check", ".")
    return subprocess.run([str(PY), "-m", "pytest", *pytest_args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    try:
        return serve() if argv[0] == "run" else test(argv[1:])
    except subprocess.CalledProcessError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
