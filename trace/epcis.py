"""Export a pack's history as a GS1 EPCIS 2.0 JSON-LD document with CBV 2.0 business steps and dispositions.

Mapping (one EPCIS event per accepted trace event, in ledger order)::

    event         EPCIS type        action   bizStep        disposition
    commission    ObjectEvent       ADD      commissioning  active; ilmd: cbvmda:lotNumber, cbvmda:itemExpirationDate
    aggregate     AggregationEvent  ADD      packing        in_progress; parentID = the case, childEPCs = the packs
    disaggregate  AggregationEvent  DELETE   unpacking      in_progress
    ship          ObjectEvent       OBSERVE  shipping       in_transit; sourceList / destinationList: owning_party
    receive       ObjectEvent       OBSERVE  receiving      in_progress; source = the last shipper
    dispense      ObjectEvent       OBSERVE  dispensing     partially_dispensed while units remain, else dispensed
    return        ObjectEvent       OBSERVE  receiving      returned
    recall        ObjectEvent       OBSERVE  holding        recalled; persistentDisposition set [recalled]
    destroy       ObjectEvent       DELETE   destroying     destroyed
    undo          the undone dispense repeated (same eventID) with errorDeclaration, reason did_not_occur

Why: CBV 2.0 defines ``active`` as "just introduced into the supply chain", so a receipt is ``in_progress``, as in
the standard's own receiving examples. CBV 2.0 has no returning step: a patient's return is the hospital
``receiving`` the pack back, disposition ``returned``. Our recall is a flag that outlives later moves, which is
what ``persistentDisposition`` expresses. EPCIS retracts an event by repeating it with an ``errorDeclaration``; the
undo's own ledger entry is named inside the declaration (``yl:declarationID``, ``yl:ledgerIndex``). A split sale
keeps the whole pack as its EPC and states the units sold in ``yl:dispensedQuantity``.

Identifiers: a GS1 pack is its GS1 Digital Link URI ``https://id.gs1.org/01/<GTIN>/21/<serial>`` (the company
prefix length that an ``urn:epc:id:sgtin`` needs is unknown to us); a 20-digit Chinese code, not a GS1 key, is
``https://yaolian.example/cn20/<20 digits>``; an organisation (we hold no GLNs) is
``https://yaolian.example/org/<USCC>``, used as readPoint (the organisation that recorded the event), bizLocation
(where the pack stays after it) and source/destination. ``yaolian.example`` is a reserved name (RFC 2606): it can
never name anybody else's resource, and these URIs stay stable whatever host serves the platform.

eventID is ``ni:///sha-256;<base64url of the ledger leaf hash>`` (RFC 6920): the RFC 6962 leaf hash of the event's
ledger entry, so each exported event points to an entry whose inclusion a signed checkpoint proves. It is not the
CBV 2.0 event hash, so it carries no ``?ver=CBV2.0``. Times are UTC; eventTimeZoneOffset is China's +08:00.

Extension fields use the prefix ``yl`` = ``https://yaolian.example/epcis/``: ``yl:eventType`` (our event type),
``yl:ledgerIndex``, ``yl:via`` (the case that carried the pack) and ``yl:dispensedQuantity`` (smallest units).
Patient pseudonyms are never exported.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.models import Organisation
from trace.canonical import utc_text
from trace.items import ItemView, get_item
from trace.models import CaptureBatch, EventType, LedgerEntry, TraceEvent

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
PROJECT_BASE = "https://yaolian.example/"
EXTENSION_PREFIX = "yl"
EXTENSION_NAMESPACE = PROJECT_BASE + "epcis/"
CHINA_OFFSET = "+08:00"  # China keeps one time zone and no daylight saving
SCHEMA_VERSION = "2.0"


@dataclass(frozen=True)
class Step:
    event_type: str
    action: str
    biz_step: str
    disposition: str | None


STEPS: dict[EventType, Step] = {
    EventType.COMMISSION: Step("ObjectEvent", "ADD", "commissioning", "active"),
    EventType.AGGREGATE: Step("AggregationEvent", "ADD", "packing", "in_progress"),
    EventType.DISAGGREGATE: Step("AggregationEvent", "DELETE", "unpacking", "in_progress"),
    EventType.SHIP: Step("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
    EventType.RECEIVE: Step("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
    EventType.DISPENSE: Step("ObjectEvent", "OBSERVE", "dispensing", None),  # depends on the units left
    EventType.RETURN: Step("ObjectEvent", "OBSERVE", "receiving", "returned"),
    EventType.RECALL: Step("ObjectEvent", "OBSERVE", "holding", "recalled"),
    EventType.DESTROY: Step("ObjectEvent", "DELETE", "destroying", "destroyed"),
}
# After these the pack stays at the acting organisation, which is then its business location.
STAYS = frozenset(
    {EventType.COMMISSION, EventType.AGGREGATE, EventType.DISAGGREGATE, EventType.RECEIVE, EventType.RETURN}
)


def ext(name: str) -> str:
    """Return the compact JSON-LD name of a project extension field."""
    return f"{EXTENSION_PREFIX}:{name}"


def item_uri(key: str) -> str:
    """Return the EPC URI of a pack from its stored key (``cn20:…`` or ``gs1:<GTIN-14><serial>``)."""
    kind, _, code = key.partition(":")
    if kind == "gs1":
        return f"https://id.gs1.org/01/{code[:14]}/21/{quote(code[14:], safe='')}"
    return f"{PROJECT_BASE}cn20/{code}"


def org_uri(uscc: str) -> str:
    """Return the URI that names an organisation by its unified social credit code."""
    return f"{PROJECT_BASE}org/{uscc}"


def event_id(leaf_hash: bytes) -> str:
    """Return the RFC 6920 ni URI of a ledger leaf hash."""
    return "ni:///sha-256;" + base64.urlsafe_b64encode(leaf_hash).rstrip(b"=").decode("ascii")


def export_item_epcis(session: Session, *, code_text: str, actor: Actor, now: dt.datetime) -> dict[str, Any]:
    """Return a pack's history as an EPCIS 2.0 document, for the parties that held it and auditors."""
    return epcis_document(session, get_item(session, code_text=code_text, actor=actor), now=now)


def epcis_document(session: Session, view: ItemView, *, now: dt.datetime) -> dict[str, Any]:
    """Build the EPCIS 2.0 JSON-LD document of an item view's events."""
    return {
        "@context": [EPCIS_CONTEXT, {EXTENSION_PREFIX: EXTENSION_NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": utc_text(now),
        "epcisBody": {"eventList": _Builder(session, view).events()},
    }


class _Builder:
    """Turn one pack's events into EPCIS events, looking up leaves, organisations and record times at once."""

    def __init__(self, session: Session, view: ItemView) -> None:
        self.view = view
        self.epc = item_uri(view.item.code_key)
        events = view.events
        indexes = [e.ledger_index for e in events]
        leaves = sa.select(LedgerEntry.idx, LedgerEntry.leaf_hash).where(LedgerEntry.idx.in_(indexes))
        self.leaves: dict[int, bytes] = {idx: bytes(leaf) for idx, leaf in session.exec(leaves).all()}
        org_ids = {e.org_id for e in events} | {e.to_org_id for e in events if e.to_org_id}
        orgs = sa.select(Organisation.id, Organisation.uscc).where(Organisation.id.in_(org_ids))
        self.orgs: dict[int, str] = {org_id: org_uri(uscc) for org_id, uscc in session.exec(orgs).all()}
        batches = sa.select(CaptureBatch.id, CaptureBatch.created_at).where(
            CaptureBatch.id.in_({e.batch_id for e in events})
        )
        self.recorded: dict[int, dt.datetime] = dict(session.exec(batches).all())

    def events(self) -> list[dict[str, Any]]:
        """Return the EPCIS events in ledger order."""
        out: list[dict[str, Any]] = []
        by_id: dict[int, dict[str, Any]] = {}
        pack_size = self.view.trade_item.pack_size
        dispensed_units, last_shipper = 0, None
        quantities: dict[int, int] = {}
        for event in self.view.events:
            kind = EventType(event.type)
            if kind == EventType.UNDO:
                undone = event.details["undone_event_id"]
                dispensed_units -= quantities[undone]
                out.append(self._declaration(by_id[undone], event))
                continue
            doc = self._common(event, STEPS[kind])
            if kind == EventType.DISPENSE:
                quantities[event.id] = event.quantity or pack_size - dispensed_units
                dispensed_units += quantities[event.id]
                doc["disposition"] = "dispensed" if dispensed_units >= pack_size else "partially_dispensed"
                if event.quantity is not None:
                    doc[ext("dispensedQuantity")] = event.quantity
            elif kind == EventType.SHIP:
                last_shipper = event.org_id
                doc["sourceList"] = [{"type": "owning_party", "source": self.orgs[event.org_id]}]
                doc["destinationList"] = [{"type": "owning_party", "destination": self.orgs[event.to_org_id]}]
            elif kind == EventType.RECEIVE:
                if last_shipper is not None:
                    doc["sourceList"] = [{"type": "owning_party", "source": self.orgs[last_shipper]}]
                doc["destinationList"] = [{"type": "owning_party", "destination": self.orgs[event.org_id]}]
            elif kind == EventType.COMMISSION:
                ilmd = self._ilmd()
                if ilmd:
                    doc["ilmd"] = ilmd
            elif kind == EventType.RECALL:
                doc["persistentDisposition"] = {"set": ["recalled"]}
            out.append(doc)
            by_id[event.id] = doc
        return out

    def _common(self, event: TraceEvent, step: Step) -> dict[str, Any]:
        kind = EventType(event.type)
        doc: dict[str, Any] = {
            "type": step.event_type,
            "eventTime": utc_text(event.at),
            "eventTimeZoneOffset": CHINA_OFFSET,
            "recordTime": utc_text(self.recorded[event.batch_id]),
            "eventID": event_id(self.leaves[event.ledger_index]),
            "action": step.action,
            "bizStep": step.biz_step,
            "readPoint": {"id": self.orgs[event.org_id]},
        }
        if step.disposition:
            doc["disposition"] = step.disposition
        if kind in STAYS:
            doc["bizLocation"] = {"id": self.orgs[event.org_id]}
        if step.event_type == "AggregationEvent":
            if "children" in event.details:  # this pack is the case
                doc["parentID"] = self.epc
                doc["childEPCs"] = [item_uri(key) for key in event.details["children"]]
            else:
                doc["parentID"] = item_uri(event.details["parent"])
                doc["childEPCs"] = [self.epc]
        else:
            doc["epcList"] = [self.epc]
        if event.details.get("via"):
            doc[ext("via")] = item_uri(event.details["via"])
        doc[ext("eventType")] = kind.value
        doc[ext("ledgerIndex")] = event.ledger_index
        return doc

    def _declaration(self, original: dict[str, Any], undo: TraceEvent) -> dict[str, Any]:
        declared = copy.deepcopy(original)
        declared["recordTime"] = utc_text(self.recorded[undo.batch_id])
        declared["errorDeclaration"] = {
            "declarationTime": utc_text(undo.at),
            "reason": "did_not_occur",
            ext("declarationID"): event_id(self.leaves[undo.ledger_index]),
            ext("ledgerIndex"): undo.ledger_index,
        }
        return declared

    def _ilmd(self) -> dict[str, str]:
        item, ilmd = self.view.item, {}
        if item.batch:
            ilmd["cbvmda:lotNumber"] = item.batch
        if item.expiry:
            ilmd["cbvmda:itemExpirationDate"] = item.expiry.isoformat()
        return ilmd
