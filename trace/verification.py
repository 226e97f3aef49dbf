"""May this pack be received or dispensed here? The capture rules, applied without changing anything."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session

from core.actor import Actor
from core.errors import INVALID, DomainError
from core.params import ParameterSet
from core.roles import Role
from trace.codes import InvalidCode, parse
from trace.items import code_key
from trace.models import EventType
from trace.rules import TRACE_RULES
from trace.state import BatchState, Pack
from trace.transitions import EventIn, Refused, Transitions

ACTIONS = (EventType.RECEIVE, EventType.DISPENSE)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    code: str
    reason: str
    alert_codes: tuple[str, ...]
    item: Pack | None  # the pack as it is now (the rules ran on a copy of its state)


def check(
    session: Session,
    *,
    actor: Actor,
    code_text: str,
    action: EventType,
    now: dt.datetime,
    quantity: int | None = None,
    insurance_code: str | None = None,
    params: ParameterSet = TRACE_RULES,
) -> Verdict:
    """Return whether the actor's organisation may receive or dispense the pack now, and why not."""
    actor.require(Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.SUPPLIER_REP)
    if action not in ACTIONS:
        raise DomainError(INVALID, "action is receive or dispense", code="bad_action", errors={"action": ["invalid"]})
    try:
        code = parse(code_text)
    except InvalidCode as exc:
        return Verdict(False, "invalid_trace_code", str(exc), (), None)
    event = EventIn(type=action, code=code_text, quantity=quantity, insurance_code=insurance_code)
    # The rules run on in-memory pack records; nothing is written, so nothing needs undoing.
    state = BatchState(session, org_id=actor.org_id, now=now)
    state.remember_parsed(code_text, code)  # parsed once: GS1 parsing is the costliest step of a verify
    state.preload([event])
    item = state.item(code_key(code))
    if item is None:
        reason = f"{code.key} has not been commissioned (possible counterfeit)"
        return Verdict(False, "unknown_code", reason, (), None)
    machine = Transitions(
        org_id=actor.org_id,
        params=params,
        trade_items=state.trade_items,
        children_of=state.children_of,
        dispenses_of=state.dispenses_of,
    )
    try:
        if action == EventType.RECEIVE:
            machine.receive(item, event, state.parent_key(item))
        else:
            machine.dispense(item, event, now)
    except Refused as refused:
        alerts = (refused.alert.code,) if refused.alert else ()
        return Verdict(False, refused.code, refused.reason, alerts, item)
    finally:
        for pack in state.items.values():
            pack.reset()  # the verdict shows the pack as it is, not as the hypothetical event left it
    return Verdict(True, "ok", f"the pack may be {action.value}d here", (), item)
