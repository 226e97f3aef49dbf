"""What each event may do to a pack, given its state: the custody state machine and the alert rules R1–R7.

A :class:`Transitions` object works on packs loaded for one batch, in memory; it never writes. Each accepted event
yields :class:`Effect` records (a parent's effect on its children included); a refused event raises
:class:`Refused` with the reason and, where a rule of rulebook 5.6.7 applies, the alert to raise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.params import ParameterSet
from trace import rules
from trace.models import EventType, Item, ItemStatus, TradeItem


@dataclass(frozen=True)
class EventIn:
    """One event as a client reports it (shape already validated at the edge)."""

    type: EventType
    code: str
    at: dt.datetime | None = None
    to_org_id: int | None = None
    quantity: int | None = None
    children: tuple[str, ...] = ()
    batch: str | None = None
    expiry: dt.date | None = None
    patient_ref: str | None = None  # keyed pseudonym, never the clear identifier
    insurance_code: str | None = None
    reason: str | None = None
    undo_event_id: int | None = None
    # Set only by the platform's own services, never from a client's batch: the sender receives back a pack it shipped
    # that the recipient refused (procurement.orders.take_back checks the refusal on the shipment first).
    take_back: bool = False


@dataclass(frozen=True)
class AlertDraft:
    code: str
    title: str
    subject_org_id: int | None
    evidence: dict[str, Any]


class Refused(Exception):
    """The event is not allowed; ``alert`` is raised even though the batch is refused."""

    def __init__(self, reason: str, code: str, alert: AlertDraft | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.alert = alert


@dataclass
class Effect:
    item: Item
    type: EventType
    via: str | None = None  # the parent's key when a case carried the pack
    quantity: int | None = None
    to_org_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: dt.datetime | None = None  # set by the capture from the event


@dataclass(frozen=True)
class PastDispense:
    event_id: int | None  # None: a dispensing earlier in the batch being captured (its event is not stored yet)
    org_id: int
    at: dt.datetime
    patient_ref: str | None
    quantity: int | None


class Transitions:
    """Apply events of one organisation to packs held in memory."""

    def __init__(
        self,
        *,
        org_id: int,
        params: ParameterSet,
        trade_items: dict[int, TradeItem],
        children_of: Callable[[Item], list[Item]],
        dispenses_of: Callable[[Item], list[PastDispense]],
    ) -> None:
        self.org_id = org_id
        self.params = params
        self.trade_items = trade_items
        self.children_of = children_of
        self.dispenses_of = dispenses_of

    # ------------------------------------------------------------ helpers

    def _tree(self, item: Item) -> list[Item]:
        out, stack = [], [item]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(self.children_of(node))
        return out

    def _held(self, item: Item, action: str) -> None:
        if item.status == ItemStatus.IN_TRANSIT and item.pending_org_id == self.org_id:
            raise Refused(f"cannot {action}: the pack was shipped to you but not received yet", "not_received")
        if item.custodian_org_id != self.org_id or item.status == ItemStatus.IN_TRANSIT:
            raise Refused(f"cannot {action}: your organisation does not hold this pack", "not_custodian")

    def _loose(self, item: Item, action: str, parent_key: str | None) -> None:
        if item.parent_id is not None:
            raise Refused(f"cannot {action} a pack inside case {parent_key}: act on the case or unpack it", "in_case")

    # ------------------------------------------------------------ events

    def ship(self, item: Item, event: EventIn, parent_key: str | None) -> list[Effect]:
        self._held(item, "ship")
        self._loose(item, "ship", parent_key)
        if event.to_org_id is None or event.to_org_id == self.org_id:
            raise Refused("a shipment needs a receiving organisation other than the sender", "bad_destination")
        if item.status != ItemStatus.ACTIVE:
            raise Refused(f"cannot ship a pack that is {item.status}", "bad_status")
        tree = self._tree(item)
        for node in tree:  # a case carries its packs: a recalled one inside recalls the shipment's destination too
            holder = self.trade_items[node.trade_item_id].holder_org_id
            if node.recalled and event.to_org_id != holder:
                where = "" if node is item else f" (inside case {item.code_key})"
                raise Refused(
                    f"recalled pack {node.code_key}{where} may only go back to its marketing authorisation holder",
                    "recalled",
                )
        effects = []
        for node in tree:
            node.status, node.pending_org_id = ItemStatus.IN_TRANSIT.value, event.to_org_id
            via = None if node is item else item.code_key
            effects.append(Effect(node, EventType.SHIP, via=via, to_org_id=event.to_org_id))
        return effects

    def receive(self, item: Item, event: EventIn, parent_key: str | None) -> list[Effect]:
        """Receive a pack shipped to this organisation; or, with ``take_back`` (set by the platform once the recipient
        refused the pack on a shipment), its sender takes it back while it is still in transit."""
        if item.status != ItemStatus.IN_TRANSIT:
            raise Refused("cannot receive: this pack was not shipped to your organisation", "not_shipped_to_you")
        taking_back = event.take_back and item.custodian_org_id == self.org_id and item.pending_org_id != self.org_id
        if item.pending_org_id != self.org_id and not taking_back:
            raise Refused("cannot receive: this pack was not shipped to your organisation", "not_shipped_to_you")
        self._loose(item, "receive", parent_key)
        effects = []
        for node in self._tree(item):
            undelivered_to = node.pending_org_id
            node.custodian_org_id, node.pending_org_id, node.status = self.org_id, None, ItemStatus.ACTIVE.value
            effect = Effect(node, EventType.RECEIVE, via=None if node is item else item.code_key)
            if taking_back:
                effect.details["returned_undelivered_from"] = undelivered_to
            effects.append(effect)
        return effects

    def aggregate(self, parent: Item, children: list[Item]) -> list[Effect]:
        self._held(parent, "pack")
        if parent.status != ItemStatus.ACTIVE:
            raise Refused(f"cannot pack into a case that is {parent.status}", "bad_status")
        level = self.trade_items[parent.trade_item_id].level
        if not children:
            raise Refused("aggregation needs the codes of the packs to put in the case", "no_children")
        for child in children:
            self._held(child, "pack")
            if child is parent:
                raise Refused("a case cannot contain itself", "cycle")
            if child.parent_id is not None and child.parent_id != parent.id:
                raise Refused(f"{child.code_key} is already in another case: unpack it first", "has_parent")
            if child.status != ItemStatus.ACTIVE:
                raise Refused(f"{child.code_key} is {child.status} and cannot be packed", "bad_status")
            if child.recalled or parent.recalled:
                raise Refused(f"{(child if child.recalled else parent).code_key} is recalled and cannot be packed",
                              "recalled")  # fmt: skip
            if self.trade_items[child.trade_item_id].level >= level:
                raise Refused(f"{child.code_key} is not a smaller packaging level than the case", "bad_level")
        effects = []
        for child in children:  # checked all first: a refusal leaves nothing half-packed
            child.parent_id = parent.id
            effects.append(Effect(child, EventType.AGGREGATE, details={"parent": parent.code_key}))
        effects.append(Effect(parent, EventType.AGGREGATE, details={"children": [c.code_key for c in children]}))
        return effects

    def disaggregate(self, parent: Item, children: list[Item], all_children: list[Item]) -> list[Effect]:
        self._held(parent, "unpack")
        chosen = children or all_children
        if not chosen:
            raise Refused("the case holds no packs", "empty_case")
        for child in chosen:
            if child.parent_id != parent.id:
                raise Refused(f"{child.code_key} is not in this case", "not_in_case")
        effects = []
        for child in chosen:
            child.parent_id = None
            effects.append(Effect(child, EventType.DISAGGREGATE, details={"parent": parent.code_key}))
        effects.append(Effect(parent, EventType.DISAGGREGATE, details={"children": [c.code_key for c in chosen]}))
        return effects

    def dispense(self, item: Item, event: EventIn, when: dt.datetime) -> list[Effect]:
        trade = self.trade_items[item.trade_item_id]
        key = item.code_key
        evidence = {"item": key, "attempt": {"org_id": self.org_id, "at": when.isoformat()}}
        if trade.level != 1:
            raise Refused("only sales units (小码) are dispensed; unpack the case first", "not_a_sales_unit")
        past = (
            self.dispenses_of(item)
            if item.status in (ItemStatus.DISPENSED, ItemStatus.PARTIAL, ItemStatus.RETURNED)
            else []
        )
        if past:
            evidence["earlier_dispenses"] = [
                {"event_id": p.event_id, "org_id": p.org_id, "at": p.at.isoformat()} for p in past
            ]
        other = [p for p in past if p.org_id != self.org_id]
        if item.status in (ItemStatus.DISPENSED, ItemStatus.PARTIAL) and other:  # a split pack too (R2 before R6)
            days = abs((when - other[-1].at).days)
            close = days <= self.params["two_institutions_close_days"]
            raise Refused(
                "this pack was already sold by another institution (回流 suspect)",
                "sold_elsewhere",
                AlertDraft(
                    rules.TWO_INSTITUTIONS,
                    "Pack sold by two institutions",
                    self.org_id,
                    {**evidence, "days_apart": days, "close_in_time": close},
                ),
            )
        if item.status == ItemStatus.DISPENSED:
            raise Refused(
                "this pack was already dispensed (one box, one sale)",
                "duplicate_sale",
                AlertDraft(rules.DUPLICATE_SALE, "Duplicate sale of one trace code", self.org_id, evidence),
            )
        if item.status in (ItemStatus.RETURNED, ItemStatus.DESTROYED):
            raise Refused(
                f"this pack was {item.status}: it cannot be dispensed",
                "sold_after_" + item.status,
                AlertDraft(rules.CHAIN_BREAK, f"Sale after {item.status}", self.org_id, evidence),
            )
        if item.recalled:
            raise Refused(
                "this pack is recalled",
                "recalled",
                AlertDraft(rules.RECALLED_DISPENSE, "Attempt to dispense a recalled pack", self.org_id, evidence),
            )
        if item.custodian_org_id != self.org_id or item.status == ItemStatus.IN_TRANSIT:
            raise Refused(
                "your organisation never received this pack (sold without receipt)",
                "not_received",
                AlertDraft(
                    rules.CHAIN_BREAK,
                    "Sale without receipt",
                    self.org_id,
                    {**evidence, "custodian_org_id": item.custodian_org_id, "status": item.status},
                ),
            )
        if item.expiry is not None and item.expiry < when.date():
            raise Refused(f"this pack expired on {item.expiry.isoformat()}", "expired")
        if event.insurance_code and trade.insurance_code and event.insurance_code != trade.insurance_code:
            raise Refused(
                f"insurance drug code {event.insurance_code} does not match the pack's {trade.insurance_code}",
                "product_mismatch",
                AlertDraft(
                    rules.PRODUCT_MISMATCH,
                    "Trace code does not match the settled drug",
                    self.org_id,
                    {**evidence, "settled_code": event.insurance_code, "pack_code": trade.insurance_code},
                ),
            )
        self._loose(item, "dispense", None)
        remaining = trade.pack_size - item.dispensed_units
        effect = Effect(item, EventType.DISPENSE, quantity=event.quantity)
        if event.quantity is None:
            if item.status == ItemStatus.PARTIAL:
                raise Refused(f"this pack is split: give the quantity (at most {remaining} {trade.unit})", "split_pack")
            item.dispensed_units, item.status = trade.pack_size, ItemStatus.DISPENSED.value
            return [effect]
        if event.quantity > remaining:
            raise Refused(
                f"split-pack quantity {event.quantity} exceeds the {remaining} {trade.unit} left",
                "over_dispense",
                AlertDraft(
                    rules.SPLIT_OVER_DISPENSE,
                    "Split pack dispensed beyond its size",
                    self.org_id,
                    {**evidence, "quantity": event.quantity, "remaining": remaining, "pack_size": trade.pack_size},
                ),
            )
        patients = {p.patient_ref for p in past if p.patient_ref}
        if event.patient_ref and patients - {event.patient_ref}:
            effect.details["second_patient"] = True
        item.dispensed_units += event.quantity
        item.status = (ItemStatus.DISPENSED if item.dispensed_units == trade.pack_size else ItemStatus.PARTIAL).value
        return [effect]

    def return_(self, item: Item) -> list[Effect]:
        if item.status not in (ItemStatus.DISPENSED, ItemStatus.PARTIAL) or item.custodian_org_id != self.org_id:
            raise Refused("only a pack your organisation dispensed can be returned to it", "not_dispensed_here")
        item.status = ItemStatus.RETURNED.value
        return [Effect(item, EventType.RETURN)]

    def recall(self, item: Item) -> list[Effect]:
        if self.trade_items[item.trade_item_id].holder_org_id != self.org_id:
            raise Refused("only the marketing authorisation holder recalls its packs", "not_holder")
        if item.status == ItemStatus.DESTROYED or item.recalled:
            raise Refused("the pack is already destroyed or recalled", "bad_status")
        effects = []
        for node in self._tree(item):
            node.recalled = True
            effects.append(Effect(node, EventType.RECALL, via=None if node is item else item.code_key))
        return effects

    def destroy(self, item: Item, parent_key: str | None) -> list[Effect]:
        self._held(item, "destroy")
        self._loose(item, "destroy", parent_key)
        if item.status == ItemStatus.DESTROYED:
            raise Refused("the pack is already destroyed", "bad_status")
        effects = []
        for node in self._tree(item):
            node.status = ItemStatus.DESTROYED.value
            effects.append(Effect(node, EventType.DESTROY, via=None if node is item else item.code_key))
        return effects

    def undo(self, item: Item, last: PastDispense | None, when: dt.datetime) -> list[Effect]:
        if item.status == ItemStatus.DESTROYED:
            raise Refused("a destroyed pack is irreversible", "irreversible")
        if last is None or item.status not in (ItemStatus.DISPENSED, ItemStatus.PARTIAL):
            raise Refused("only the pack's latest dispensing can be undone", "nothing_to_undo")
        if last.org_id != self.org_id:
            raise Refused("only the location that dispensed the pack may undo it", "other_location")
        if last.event_id is None:
            raise Refused(
                "a dispensing in this same batch cannot be undone: leave it out of the batch", "undo_in_batch"
            )
        window = dt.timedelta(days=self.params["undo_window_days"])
        if when - last.at > window:
            raise Refused(f"the undo window of {window.days} days has passed", "undo_window_passed")
        pack_size = self.trade_items[item.trade_item_id].pack_size
        item.dispensed_units -= last.quantity or pack_size
        item.status = (ItemStatus.PARTIAL if item.dispensed_units else ItemStatus.ACTIVE).value
        return [Effect(item, EventType.UNDO, details={"undone_event_id": last.event_id})]
