"""Capture a batch of events from one organisation: atomic (all or none), idempotent, optionally signed.

A refused batch stores nothing but its idempotency record and the alerts its events raised (an attempted
duplicate sale is exactly what auditors must see). A retried batch id returns the first answer; the same id with
different content is refused. Every accepted event, and every pack a case carried with it, becomes a ledger entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.alerts import raise_alert
from core.audit import record_audit
from core.db import driver_executemany
from core.errors import CONFLICT, FORBIDDEN, INVALID, DomainError
from core.models import Organisation
from core.params import ParameterSet
from core.roles import OrgKind, Role
from trace import ledger, rules
from trace.canonical import utc_text
from trace.codes import InvalidCode, TraceCode
from trace.items import code_key
from trace.models import CaptureBatch, EventType, OrgSigningKey, TraceEvent
from trace.rules import TRACE_RULES
from trace.signing import public_from_hex, verify
from trace.state import BatchState
from trace.transitions import AlertDraft, Effect, EventIn, Refused, Transitions

CAPTURE_ROLES = (Role.SUPPLIER_REP, Role.PHARMACIST, Role.PHARMACY_MANAGER)
HOSPITAL_ONLY = {EventType.DISPENSE, EventType.RETURN, EventType.UNDO}
MAKER_ONLY = {EventType.COMMISSION, EventType.RECALL}
MAX_EVENTS = 5000


@dataclass(frozen=True)
class BatchIn:
    client_batch_id: str
    events: Sequence[EventIn]
    request_sha256: str
    signature: bytes | None = None  # Ed25519 over signature_message(request_sha256)
    parsed: Mapping[str, TraceCode] = field(default_factory=dict)  # codes the caller already parsed, by text


@dataclass
class CaptureResult:
    batch: CaptureBatch
    replay: bool = False

    @property
    def accepted(self) -> bool:
        return self.batch.accepted

    @property
    def body(self) -> dict[str, Any]:
        return self.batch.result


@dataclass
class _Outcome:
    effects: list[tuple[int, Effect]] = field(default_factory=list)
    refusals: list[tuple[int, Refused]] = field(default_factory=list)


def request_digest(canonical_request: bytes) -> str:
    """Return the digest that tells a retried batch from a different batch with the same id."""
    return hashlib.sha256(canonical_request).hexdigest()


SIGNATURE_CONTEXT = b"yaolian/trace-batch/v1\n"


def signature_message(request_sha256: str) -> bytes:
    """Return the bytes a batch signature covers: a context tag, then the SHA-256 (hex) of the request's canonical
    JSON without its ``signature`` field.

    Signing the digest, which the platform keeps with the batch, rather than the body, which may hold patient
    identifiers and is never kept, lets anyone check the signature again later (:func:`signature_holds`).
    """
    return SIGNATURE_CONTEXT + request_sha256.encode("ascii")


def signature_holds(session: Session, record: CaptureBatch) -> bool | None:
    """Check a stored batch's signature again with the key that verified it on arrival; None when unsigned."""
    if record.signature is None or record.signing_key_id is None:
        return None
    key = session.get(OrgSigningKey, record.signing_key_id)
    return verify(
        public_from_hex(key.public_key), bytes.fromhex(record.signature), signature_message(record.request_sha256)
    )


def capture(
    session: Session, *, actor: Actor, batch: BatchIn, now: dt.datetime, params: ParameterSet = TRACE_RULES
) -> CaptureResult:
    """Capture a batch of events atomically and idempotently for the actor's organisation."""
    actor.require(*CAPTURE_ROLES)
    if not batch.events or len(batch.events) > MAX_EVENTS:
        raise DomainError(INVALID, f"a batch holds 1 to {MAX_EVENTS} events", code="bad_batch_size")
    org = session.get(Organisation, actor.org_id)
    stmt = sa.select(CaptureBatch).where(
        CaptureBatch.org_id == org.id, CaptureBatch.client_batch_id == batch.client_batch_id
    )
    earlier = session.exec(stmt).scalars().first()
    if earlier is not None:
        if earlier.request_sha256 != batch.request_sha256:
            raise DomainError(CONFLICT, "this batch id was used for different events", code="batch_id_reused")
        return CaptureResult(earlier, replay=True)
    key_id = _check_signature(session, org.id, batch) if batch.signature is not None else None
    _check_kinds(org, batch.events)

    record = CaptureBatch(
        org_id=org.id,
        client_batch_id=batch.client_batch_id,
        request_sha256=batch.request_sha256,
        accepted=False,
        event_count=len(batch.events),
        signature=batch.signature.hex() if batch.signature else None,
        signing_key_id=key_id,
        created_by_user_id=actor.user_id,
        created_at=now,
    )
    savepoint = session.begin_nested()
    state = BatchState(session, org_id=org.id, now=now, lock=True)
    for text, code in batch.parsed.items():
        state.remember_parsed(text, code)
    outcome = _apply(state, batch.events, org.id, params, now)
    if outcome.refusals:
        savepoint.rollback()
        return _refuse(session, actor, record, outcome, params)
    savepoint.commit()
    return _accept(session, actor, record, outcome, state, params, now)


def _check_signature(session: Session, org_id: int, batch: BatchIn) -> int:
    stmt = sa.select(OrgSigningKey).where(OrgSigningKey.org_id == org_id, OrgSigningKey.revoked_at.is_(None))
    for key in session.exec(stmt).scalars():
        if verify(public_from_hex(key.public_key), batch.signature, signature_message(batch.request_sha256)):
            return key.id
    raise DomainError(
        INVALID,
        "the batch signature does not verify with any registered key of your organisation",
        code="bad_signature",
        errors={"signature": ["does not verify"]},
    )


def _check_kinds(org: Organisation, events: Sequence[EventIn]) -> None:
    kind = OrgKind(org.kind)
    for position, event in enumerate(events):
        if event.type in HOSPITAL_ONLY and kind != OrgKind.HOSPITAL:
            raise DomainError(FORBIDDEN, f"event {position}: only hospitals {event.type}", code="event_not_allowed")
        if event.type in MAKER_ONLY and kind not in (OrgKind.MANUFACTURER, OrgKind.DISTRIBUTOR):
            raise DomainError(FORBIDDEN, f"event {position}: only suppliers {event.type}", code="event_not_allowed")


def _apply(state: BatchState, events: Sequence[EventIn], org_id: int, params: ParameterSet, now) -> _Outcome:
    outcome = _Outcome()
    state.preload(events)
    machine = Transitions(
        org_id=org_id,
        params=params,
        trade_items=state.trade_items,
        children_of=state.children_of,
        dispenses_of=state.dispenses_of,
    )
    skew = dt.timedelta(seconds=params["future_skew_seconds"])
    for position, event in enumerate(events):
        when = event.at or now
        try:
            if when > now + skew:
                raise Refused("the event time is in the future", "future_time")
            effects = _one(state, machine, event, when)
        except Refused as refused:
            outcome.refusals.append((position, refused))
            continue
        for effect in effects:
            effect.at = when
            state.applied(effect, event)
            outcome.effects.append((position, effect))
    return outcome


def _one(state: BatchState, machine: Transitions, event: EventIn, when: dt.datetime) -> list[Effect]:
    try:
        code = state.parse(event.code)
    except InvalidCode as exc:
        raise Refused(str(exc), "invalid_trace_code") from exc
    if event.type == EventType.COMMISSION:
        return [state.commission(code, event, when)]
    item = state.item(code_key(code))
    if item is None:
        raise Refused(f"{code.key} has not been commissioned", "unknown_code")
    parent_key = state.parent_key(item)
    match event.type:
        case EventType.SHIP:
            return machine.ship(item, event, parent_key)
        case EventType.RECEIVE:
            return machine.receive(item, event, parent_key)
        case EventType.AGGREGATE | EventType.DISAGGREGATE:
            children = [state.required_item(text) for text in event.children]
            state.ensure_id(item)
            if event.type == EventType.AGGREGATE:
                return machine.aggregate(item, children)
            return machine.disaggregate(item, children, state.children_of(item))
        case EventType.DISPENSE:
            return machine.dispense(item, event, when)
        case EventType.RETURN:
            return machine.return_(item)
        case EventType.RECALL:
            return machine.recall(item)
        case EventType.DESTROY:
            return machine.destroy(item, parent_key)
        case EventType.UNDO:
            past = state.dispenses_of(item)
            # The window runs to when the undo reaches the platform: a client cannot backdate its way back into it.
            return machine.undo(item, past[-1] if past else None, max(when, state.now))
    raise Refused(f"unknown event type {event.type}", "bad_type")


def _alert(session: Session, actor: Actor, draft: AlertDraft, params: ParameterSet, batch_id: str):
    return raise_alert(
        session,
        actor=actor,
        code=draft.code,
        source="trace",
        severity=params["severities"][draft.code],
        title=draft.title,
        object_type="trace_item",
        object_id=draft.evidence["item"],
        evidence={**draft.evidence, "batch": batch_id},
        rule=params.describe(),
        subject_org_id=draft.subject_org_id,
    )


def _refuse(session, actor, record: CaptureBatch, outcome: _Outcome, params) -> CaptureResult:
    alerts = []
    for position, refused in outcome.refusals:
        if refused.alert is not None:
            alert = _alert(session, actor, refused.alert, params, record.client_batch_id)
            alerts.append({"position": position, "code": alert.code, "alert_id": alert.id})
    record.result = {
        "batch_id": record.client_batch_id,
        "accepted": False,
        "rejected": [{"position": p, "code": r.code, "reason": r.reason} for p, r in outcome.refusals],
        "alerts": alerts,
    }
    session.add(record)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="trace.batch_refused",
        object_type="capture_batch",
        object_id=record.id,
        details={"client_batch_id": record.client_batch_id, "refused": len(outcome.refusals)},
    )
    return CaptureResult(record)


def _attested_details(session: Session, effect: Effect, payload: dict[str, Any]) -> None:
    """Put in the ledger entry what a pack's history shows beyond type, place and time (entry version 2): the lot and
    expiry a pack was commissioned with, the case it was put into or taken out of, the entry of the sale an undo
    reverses."""
    if effect.type == EventType.COMMISSION:
        if effect.item.batch:
            payload["lot"] = effect.item.batch
        if effect.item.expiry:
            payload["exp"] = effect.item.expiry.isoformat()
    elif effect.type in (EventType.AGGREGATE, EventType.DISAGGREGATE) and effect.details.get("parent"):
        payload["parent"] = effect.details["parent"]
    elif effect.type == EventType.UNDO:
        undone = effect.details["undone_event_id"]
        payload["undoes"] = session.exec(sa.select(TraceEvent.ledger_index).where(TraceEvent.id == undone)).scalar_one()


def _accept(session, actor, record, outcome: _Outcome, state: BatchState, params, now) -> CaptureResult:
    record.accepted = True
    session.add(record)
    session.flush()
    uscc = state.uscc_of
    moments: dict[dt.datetime, str] = {}  # a batch's events share a few moments: render each once
    payloads = []
    for _position, effect in outcome.effects:
        at = moments.get(effect.at) or moments.setdefault(effect.at, utc_text(effect.at))
        payload = {
            "item": effect.item.code_key,
            "type": effect.type.value,
            "org": uscc(state.org_id),
            "at": at,
            "batch": record.client_batch_id,
        }
        if effect.to_org_id:
            payload["to"] = uscc(effect.to_org_id)
        if effect.quantity is not None:
            payload["qty"] = effect.quantity
        if effect.via:
            payload["via"] = effect.via
        _attested_details(session, effect, payload)
        payloads.append(payload)
    state.flush_new_items()
    prev = {e.item.code_key: e.item.last_leaf_hash for _, e in outcome.effects}
    appended = ledger.append(session, payloads, prev=prev)
    rows = []
    for (position, effect), entry in zip(outcome.effects, appended, strict=True):
        details = {k: v for k, v in effect.details.items() if not k.startswith("_")}
        if effect.via:
            details["via"] = effect.via
        rows.append(
            {
                "batch_id": record.id,
                "item_id": effect.item.id,
                "type": effect.type.value,
                "org_id": state.org_id,
                "at": effect.at,
                "to_org_id": effect.to_org_id,
                "quantity": effect.quantity,
                "patient_ref": state.events[position].patient_ref if effect.type == EventType.DISPENSE else None,
                "details": details,
                "ledger_index": entry.idx,
            }
        )
    driver_executemany(session.connection(), TraceEvent.__table__, rows)  # plain tuples: the hot path
    for key, leaf in prev.items():
        state.item(key).last_leaf_hash = leaf
    state.write_changes()
    alerts = []
    for position, effect in outcome.effects:
        if effect.details.get("second_patient"):
            draft = AlertDraft(
                rules.SAME_CODE_TWO_PATIENTS,
                "Split pack dispensed to a second patient",
                state.org_id,
                {"item": effect.item.code_key},
            )
            alert = _alert(session, actor, draft, params, record.client_batch_id)
            alerts.append({"position": position, "code": alert.code, "alert_id": alert.id})
    record.result = {
        "batch_id": record.client_batch_id,
        "accepted": True,
        "events": record.event_count,
        "entries": len(appended),
        "ledger": {"first_index": appended[0].idx, "last_index": appended[-1].idx, "tree_size": appended[-1].idx + 1},
        "alerts": alerts,
        "signed": record.signature is not None,
    }
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="trace.batch_captured",
        object_type="capture_batch",
        object_id=record.id,
        details={"client_batch_id": record.client_batch_id, "entries": len(appended)},
    )
    return CaptureResult(record)
