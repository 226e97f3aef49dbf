"""Pieces of the trace pages: the scan form and its running log, timeline rows, and the ledger's re-verification."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import session as cookie
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlmodel import Session
from wtforms import IntegerField, RadioField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.accounts import get_organisation
from core.actor import Actor
from core.errors import NOT_FOUND, DomainError
from core.roles import OrgKind
from trace import ledger, merkle
from trace.codes import GS
from trace.item_proof import ItemVerification, verify_item
from trace.models import Checkpoint, EventType, TraceEvent
from trace.signing import key_id, verify
from webui.pages.trace_labels import PROBLEM_ENTRY

SCAN_LOG_KEY = "trace_scans"
SCAN_LOG_SIZE = 8  # the session cookie holds the log, so it stays short
SCAN_LOG_CODE_CHARS = 80
SCAN_MAX_QUANTITY = 100_000
TIMELINE_PACKS = 10


def scan_actions(actor: Actor) -> list[tuple[str, Any]]:
    """Return the scan purposes open to the actor's organisation: only hospitals dispense."""
    actions = [(EventType.RECEIVE.value, _l("Receive"))]
    if actor.org_kind == OrgKind.HOSPITAL:
        actions.append((EventType.DISPENSE.value, _l("Dispense")))
    return actions


class ScanForm(FlaskForm):
    # No strip filter: the parser normalises the scan itself (NFKC, the CR/LF a wedge scanner appends).
    code = StringField(
        _l("Trace code"),
        [DataRequired(message=_l("Scan or type a trace code.")), Length(max=200)],
        description=_l("20 digits, or a GS1 code; the bracketed form (01)…(17)…(10)…(21)… works too."),
    )
    action = RadioField(_l("Purpose"), default=EventType.DISPENSE.value)
    quantity = IntegerField(
        _l("Units (split pack)"),
        [Optional(), NumberRange(min=1, max=SCAN_MAX_QUANTITY)],
        description=_l("Only when dispensing part of a pack; leave empty for a whole pack."),
    )


# ---------------------------------------------------------------- the running log, kept in the session cookie


def scan_log(actor: Actor) -> dict[str, Any]:
    """Return this browser session's scan log of the actor: the chosen purpose and the latest scans."""
    stored = cookie.get(SCAN_LOG_KEY)
    if not isinstance(stored, dict) or stored.get("user") != actor.user_id:
        return {"user": actor.user_id, "action": None, "scans": []}
    return stored


def printable(code: str) -> str:
    """Return a scan as it can be shown: control separators as the visible ␝, surrounding whitespace dropped."""
    return code.replace(GS, "\u241d").strip()


def log_scan(actor: Actor, *, action: str, code: str, allowed: bool, reason: str, now: dt.datetime) -> None:
    """Put a scan at the top of the running log and remember the purpose for the next scan."""
    log = scan_log(actor)
    text = printable(code)
    entry = {
        "at": now.isoformat(),
        "code": text if len(text) <= SCAN_LOG_CODE_CHARS else text[: SCAN_LOG_CODE_CHARS - 1] + "…",
        "action": action,
        "ok": allowed,
        "reason": reason,
    }
    cookie[SCAN_LOG_KEY] = {**log, "action": action, "scans": [entry, *log["scans"]][:SCAN_LOG_SIZE]}


def log_rows(actor: Actor) -> list[dict[str, Any]]:
    """Return the running log for display, times as datetimes."""
    return [{**row, "at": dt.datetime.fromisoformat(row["at"])} for row in scan_log(actor)["scans"]]


# ---------------------------------------------------------------- the timeline


def key_to_code(code_key: str) -> str:
    """Turn a stored pack key (``cn20:…`` / ``gs1:GTIN+serial``) back into a code the parser reads."""
    kind, _sep, key = code_key.partition(":")
    if kind == "gs1":
        return f"(01){key[:14]}(21){key[14:]}"
    return key


def prove_item(
    session: Session, *, item_key: str, public_key: Ed25519PublicKey, events=(), last_leaf_hash: bytes | None = None
) -> ItemVerification:
    """Check a pack's entries against the newest checkpoint, and the events shown against their entries (entries
    too damaged to parse fail the check)."""
    return verify_item(session, item_key=item_key, public_key=public_key, events=events, last_leaf_hash=last_leaf_hash)


def proof_state(proof: ItemVerification) -> str:
    """Return the badge of a pack: verified, pending (no checkpoint covers it yet) or failed."""
    if proof.verified:
        return "verified"
    if proof.checkpoint_size is None or not proof.problems:
        return "pending"
    return "failed"


@dataclass(frozen=True)
class TimelineRow:
    event: TraceEvent
    org_name: str
    to_org_name: str | None
    via: str | None  # the case that carried the pack, as a code
    state: str  # proven | pending | problem
    case: str | None = None  # the case a pack was put into or taken out of
    packs: tuple[str, ...] = ()  # the packs a case event put in or took out, the first TIMELINE_PACKS of them
    more_packs: int = 0


def timeline(session: Session, *, actor: Actor, events: list[TraceEvent], proof: ItemVerification) -> list[TimelineRow]:
    """Return the pack's events in order with organisation names and whether each is proven by a checkpoint."""
    names: dict[int, str] = {}

    def name(org_id: int | None) -> str | None:
        if org_id is None:
            return None
        if org_id not in names:
            names[org_id] = get_organisation(session, org_id=org_id, actor=actor).name
        return names[org_id]

    troubled = {int(m[1]) for p in proof.problems if (m := PROBLEM_ENTRY.match(p))}
    rows = []
    for event in events:
        if event.ledger_index in troubled:
            state = "problem"
        elif proof.checkpoint_size is not None and event.ledger_index < proof.checkpoint_size:
            state = "problem" if proof.problems else "proven"
        else:
            state = "pending"
        details = event.details or {}
        via, parent, children = details.get("via"), details.get("parent"), details.get("children") or []
        rows.append(
            TimelineRow(
                event,
                name(event.org_id),
                name(event.to_org_id),
                key_to_code(via) if via else None,
                state,
                case=key_to_code(parent) if parent else None,
                packs=tuple(key_to_code(key) for key in children[:TIMELINE_PACKS]),
                more_packs=max(len(children) - TIMELINE_PACKS, 0),
            )
        )
    return rows


# ---------------------------------------------------------------- the ledger, verified again on request


@dataclass(frozen=True)
class Check:
    ok: bool
    label: str
    detail: str = ""


@dataclass
class LedgerCheck:
    size: int
    root: bytes
    checkpoint: Checkpoint | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def verify_ledger(session: Session, *, public_key: Ed25519PublicKey) -> LedgerCheck:
    """Recompute the root from stored hashes, check the newest checkpoint's signature and the log's consistency."""
    size, root = ledger.current_root(session)
    result = LedgerCheck(size, root, None)
    rebuilt = ledger.tree(session).root(size)
    result.checks.append(
        Check(
            rebuilt == root,
            _("Root recomputed from the stored hashes"),
            _("Matches the log head.") if rebuilt == root else _("Differs from the log head: stored hashes changed."),
        )
    )
    try:
        checkpoint = result.checkpoint = ledger.latest_checkpoint(session)
    except DomainError as exc:
        if exc.kind != NOT_FOUND:
            raise
        result.checks.append(Check(False, _("Signed checkpoint"), _("No checkpoint has been signed yet.")))
        return result
    cp_root = bytes(checkpoint.root)
    message = ledger.checkpoint_message(checkpoint.tree_size, cp_root, checkpoint.signed_at)
    signed = checkpoint.key_id == key_id(public_key) and verify(public_key, bytes(checkpoint.signature), message)
    result.checks.append(
        Check(
            signed,
            _("Signature of checkpoint %(size)s", size=checkpoint.tree_size),
            _("Valid, made with the platform key.") if signed else _("Does not verify with the platform key."),
        )
    )
    if checkpoint.tree_size == 0 or checkpoint.tree_size > size:
        consistent = checkpoint.tree_size == size == 0
    elif checkpoint.tree_size == size:
        consistent = merkle.verify_consistency(size, size, cp_root, rebuilt, [])
    else:
        proof = ledger.consistency_proof(session, first=checkpoint.tree_size, second=size)
        consistent = merkle.verify_consistency(checkpoint.tree_size, size, cp_root, rebuilt, proof)
    result.checks.append(
        Check(
            consistent,
            _("Current log consistent with checkpoint %(size)s", size=checkpoint.tree_size),
            _("The log only grew since it was signed: no signed entry was changed or removed.")
            if consistent
            else _("The current log does not extend the signed one: signed entries were changed or removed."),
        )
    )
    return result
