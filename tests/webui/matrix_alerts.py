"""Rows of the authorization matrix for the alerts workbench and audit runs.

"own" is an alert about the caller's organisation, "foreign" one about another organisation. Auditors and
administrators review every alert (a comment here); everyone else may only answer alerts about themselves.
Audit runs are for auditors and administrators only, whatever the scope.
"""

from __future__ import annotations

import datetime as dt
import itertools

from core.actor import Actor
from core.alerts import Severity, raise_alert
from core.roles import Role
from procurement.audit import runs

REVIEWERS = (Role.AUDITOR, Role.ADMIN)
_keys = itertools.count(1)


def staged_alert(w, scope: str):
    cache = w.__dict__.setdefault("_alerts", {})
    if scope not in cache:
        cache[scope] = raise_alert(
            w.factory.db, actor=Actor.system("matrix"), code="MATRIX-TEST", source="test", severity=Severity.LOW,
            title="matrix", object_type="probe", object_id=scope, evidence={}, rule={},
            subject_org_id=w.org(scope).id,
        )  # fmt: skip
    return cache[scope]


def staged_run(w):
    if "_run" not in w.__dict__:
        w._run, _ = runs.request_run(
            w.factory.db, actor=Actor.system("matrix"), start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 1),
            parts=["supply"],
        )  # fmt: skip
    return w._run


def alert_rows(Row):
    """Return the matrix rows of the alerts and audit-run endpoints."""
    everyone = dict.fromkeys(Role, (200, 200))
    seeing = {role: ((200, 200) if role in REVIEWERS else (200, 404)) for role in Role}
    reviewers_only = {role: ((200, 200) if role in REVIEWERS else (403, 403)) for role in Role}
    starting = {role: ((201, 201) if role in REVIEWERS else (403, 403)) for role in Role}

    def review(w, scope):
        if w.role in REVIEWERS:
            body = {"action": "comment", "note": "looked at it"}
        else:
            body = {"action": "answer", "note": "our answer"}
        return "PATCH", f"/api/v1/alerts/{staged_alert(w, scope).id}", body

    def start(w, scope):
        return "POST", "/api/v1/audits/runs", {"start": "2026-01-01", "end": f"2026-02-{next(_keys) % 27 + 2:02d}",
                                              "parts": ["supply"]}  # fmt: skip

    return [
        Row("GET", "/api/v1/alerts", lambda w, s: ("GET", "/api/v1/alerts", None), everyone),
        Row("GET", "/api/v1/alerts/summary", lambda w, s: ("GET", "/api/v1/alerts/summary", None), everyone),
        Row(
            "GET",
            "/api/v1/alerts/<int:alert_id>",
            lambda w, s: ("GET", f"/api/v1/alerts/{staged_alert(w, s).id}", None),
            seeing,
        ),
        Row("PATCH", "/api/v1/alerts/<int:alert_id>", review, seeing),
        Row("POST", "/api/v1/audits/runs", start, starting),
        Row("GET", "/api/v1/audits/runs", lambda w, s: ("GET", "/api/v1/audits/runs", None), reviewers_only),
        Row(
            "GET",
            "/api/v1/audits/runs/<int:run_id>",
            lambda w, s: ("GET", f"/api/v1/audits/runs/{staged_run(w).id}", None),
            reviewers_only,
        ),
    ]
