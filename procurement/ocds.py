"""OCDS 1.1 release packages of tenders: parties, tender, lots, bids once opened, awards, with medicine items.

What each stage discloses: before opening, bids appear only as counts (``bids.statistics`` and
``tender.numberOfTenderers``), never a price, a bid date or a bidder's name; from opening on, every bid with its
price and tenderer. Lots and bids are not in the OCDS 1.1 core schema: they follow the official lots and bids
extensions (named in the package's ``extensions``); items follow the medicine extension. The tests validate
packages against the official schemas in ``../shared/standards/ocds`` (``tests/procurement/test_ocds.py``).

Money is ``Decimal`` up to here and becomes a JSON number only in the package (``int`` or ``float``, checked to
round-trip to the same four-place decimal: OCDS amounts are numbers, and a string amount is invalid).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from procurement.ocds_codes import (
    _STRENGTH,
    _UNCEFACT,
    AWARD_STATUS,
    AWARDS_PUBLISHED,
    BID_STATUS,
    BIDS_COUNTED,
    BIDS_DISCLOSED,
    CHINA_TIME,
    CONTRACTS_PUBLISHED,
    DOSAGE_FORMS,
    EXTENSIONS,
    GTIN_SCHEME,
    NHSA_SCHEME,
    OCDS_VERSION,
    PRODUCT_SCHEME,
    STAGES,
    USCC_SCHEME,
)


@dataclass(frozen=True)
class OcdsParty:
    """An organisation; ``roles`` are OCDS partyRole codes it holds beyond what the tender implies (e.g. buyer)."""

    id: int
    name: str
    roles: tuple[str, ...] = ()
    uscc: str | None = None
    region_name: str | None = None


@dataclass(frozen=True)
class OcdsItem:
    """A product in a lot; ``unit`` names the unit that the lot's ceiling and the award prices are quoted per."""

    product_id: int
    generic_name: str
    dosage_form: str
    strength: str
    package_spec: str
    pack_quantity: int
    unit: str
    manufacturer_id: int
    insurance_code: str | None = None
    gtin: str | None = None


@dataclass(frozen=True)
class OcdsLot:
    """A lot (品种) with its ceiling price per item unit."""

    id: int
    title: str
    ceiling: Decimal
    currency: str = "CNY"
    items: tuple[OcdsItem, ...] = ()


@dataclass(frozen=True)
class OcdsBid:
    """A bid; ``price`` is None while sealed (and is ignored before opening whatever it holds)."""

    id: int
    lot_id: int
    supplier_id: int
    price: Decimal | None
    submitted_at: dt.datetime
    status: str  # a key of BID_STATUS


@dataclass(frozen=True)
class OcdsAward:
    """A winner of a lot at ``price`` per item unit; ``status`` is an awardStatus code (公示期: pending)."""

    id: int
    lot_id: int
    supplier_id: int
    price: Decimal
    status: str
    date: dt.datetime | None
    agreed_volume: int
    reason: str


@dataclass(frozen=True)
class OcdsTender:
    """A tender as published: our lifecycle ``status`` decides what each part of the release discloses."""

    id: int
    ocid_prefix: str
    title: str
    description: str
    status: str
    procuring_entity_id: int
    rule_set_name: str
    rule_set_version: str
    bid_deadline: dt.datetime | None
    period_start: dt.date | None
    period_end: dt.date | None
    published_at: dt.datetime | None
    lots: tuple[OcdsLot, ...] = ()
    bids: tuple[OcdsBid, ...] = ()
    awards: tuple[OcdsAward, ...] = ()
    parties: tuple[OcdsParty, ...] = ()
    updated_at: dt.datetime | None = None  # the last change: the release's date (``now`` when unknown)


def release_package(t: OcdsTender, *, publisher_name: str, uri: str, now: dt.datetime) -> dict[str, Any]:
    """Return the tender as an OCDS 1.1 release package holding one release, current as of ``now``.

    The release is dated at the tender's last change (``updated_at``, else ``now``) and its id is derived from its
    content, so fetching an unchanged tender twice yields the same release.
    """
    if t.status not in STAGES:
        raise ValueError(f"unknown tender status {t.status!r}")
    tags, tender_status = STAGES[t.status]
    parties = {party.id: party for party in t.parties}
    roles = _roles(t)
    missing = sorted(set(roles) - set(parties))
    if missing:
        raise ValueError(f"parties {missing} are referenced by the tender but not given")
    release: dict[str, Any] = {
        "ocid": f"{t.ocid_prefix}-{t.id}",
        "tag": list(tags),
        "initiationType": "tender",
        "language": "zh",
        "parties": [_party(parties[pid], roles[pid]) for pid in sorted(roles)],
        "buyer": _ref(parties[_buyer_id(t, roles)]),
        "tender": _tender(t, tender_status, parties),
    }
    if t.status in BIDS_COUNTED:
        release["bids"] = _bids(t, parties)
    if t.status in AWARDS_PUBLISHED and t.awards:
        release["awards"] = [_award(t, award, parties) for award in t.awards]
    if t.status in CONTRACTS_PUBLISHED:
        contracts = [_contract(t, award) for award in t.awards if award.status == "active"]
        if contracts:
            release["contracts"] = contracts
    # The id follows the content, so a changed tender gets a new release id and an unchanged one keeps it.
    digest = hashlib.sha256(json.dumps(release, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    changed = _when(t.updated_at or now)
    release = {"ocid": release["ocid"], "id": f"{release['ocid']}-{digest[:16]}", "date": changed, **release}
    return {
        "uri": uri,
        "version": OCDS_VERSION,
        "extensions": list(EXTENSIONS),
        "publishedDate": changed,  # for a package made on demand: the last change to its contents
        "publisher": {"name": publisher_name},
        "releases": [release],
    }


def dosage_form_code(dosage_form: str) -> str | None:
    """Return the medicine extension's dosageForm code of a Chinese 剂型, or None when it has no single code."""
    return DOSAGE_FORMS.get(dosage_form.strip())


# ---------------------------------------------------------------- parts of the release


def _roles(t: OcdsTender) -> dict[int, set[str]]:
    """Return each referenced party's roles; tenderer and supplier only ever come from disclosed bids and awards."""
    roles: dict[int, set[str]] = {}
    for party in t.parties:
        given = set(party.roles) - {"tenderer", "supplier", "procuringEntity"}
        if given:
            roles.setdefault(party.id, set()).update(given)
    roles.setdefault(t.procuring_entity_id, set()).add("procuringEntity")
    if not any("buyer" in held for held in roles.values()):
        roles[t.procuring_entity_id].add("buyer")
    if t.status in BIDS_DISCLOSED:
        for bid in t.bids:
            roles.setdefault(bid.supplier_id, set()).add("tenderer")
    if t.status in AWARDS_PUBLISHED:
        for award in t.awards:
            roles.setdefault(award.supplier_id, set()).add("supplier")
    return roles


def _buyer_id(t: OcdsTender, roles: dict[int, set[str]]) -> int:
    if "buyer" in roles[t.procuring_entity_id]:
        return t.procuring_entity_id
    return min(pid for pid, held in roles.items() if "buyer" in held)


def _party(party: OcdsParty, roles: Iterable[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": _party_id(party), "name": party.name}
    if party.uscc:
        body["identifier"] = {"scheme": USCC_SCHEME, "id": party.uscc, "legalName": party.name}
    if party.region_name:
        body["address"] = {"region": party.region_name, "countryName": "中国"}
    body["roles"] = sorted(roles)
    return body


def _party_id(party: OcdsParty) -> str:
    return f"{USCC_SCHEME}-{party.uscc}" if party.uscc else f"yaolian-org-{party.id}"


def _ref(party: OcdsParty) -> dict[str, str]:
    return {"id": _party_id(party), "name": party.name}


def _tender(t: OcdsTender, status: str, parties: dict[int, OcdsParty]) -> dict[str, Any]:
    tender: dict[str, Any] = {
        "id": str(t.id),
        "title": t.title,
        "description": t.description,
        "status": status,
        "procuringEntity": _ref(parties[t.procuring_entity_id]),
        "items": [_item(lot, item, lot.ceiling) for lot in t.lots for item in lot.items],
        "lots": [{"id": str(lot.id), "title": lot.title, "status": status} for lot in t.lots],
        "procurementMethod": "selective",  # only firms whose products qualify for the lot may bid
        "procurementMethodDetails": f"{t.rule_set_name} {t.rule_set_version}",
        "mainProcurementCategory": "goods",
        "awardCriteria": "priceOnly",
        "submissionMethod": ["electronicSubmission"],
    }
    period = {"startDate": _when(t.published_at), "endDate": _when(t.bid_deadline)}
    if any(period.values()):
        tender["tenderPeriod"] = {key: value for key, value in period.items() if value}
    contract_period = _cycle(t)
    if contract_period:
        tender["contractPeriod"] = contract_period
    if t.status in BIDS_COUNTED:
        tender["numberOfTenderers"] = len({bid.supplier_id for bid in t.bids})
    if t.status in BIDS_DISCLOSED and t.bids:
        suppliers = sorted({bid.supplier_id for bid in t.bids})
        tender["tenderers"] = [_ref(parties[pid]) for pid in suppliers]
    return tender


def _item(lot: OcdsLot, item: OcdsItem, unit_price: Decimal, quantity: int | None = None) -> dict[str, Any]:
    codes = [(NHSA_SCHEME, item.insurance_code), (GTIN_SCHEME, item.gtin), (PRODUCT_SCHEME, str(item.product_id))]
    known = [{"scheme": scheme, "id": code} for scheme, code in codes if code]
    body: dict[str, Any] = {
        "id": f"{lot.id}-{item.product_id}",
        "description": " ".join(filter(None, (item.generic_name, item.dosage_form, item.strength, item.package_spec))),
        "classification": {**known[0], "description": item.generic_name},
    }
    if known[1:]:
        body["additionalClassifications"] = known[1:]
    if quantity is not None:
        body["quantity"] = quantity
    body["unit"] = {"name": item.unit, "value": _value(unit_price, lot.currency)}
    body["relatedLot"] = str(lot.id)
    code = dosage_form_code(item.dosage_form)
    if code:
        body["dosageForm"] = code
    if "复方" in item.generic_name:  # a compound's generic name names no single ingredient
        return body
    ingredient: dict[str, Any] = {"name": item.generic_name}
    strength = _STRENGTH.match(item.strength or "")
    if strength:
        amount, unit = strength.groups()
        unit_code = {"scheme": "UNCEFACT", "id": _UNCEFACT[unit]}
        ingredient["strength"] = {"value": _number(Decimal(amount)), "unit": unit_code}
    body["activeIngredients"] = [ingredient]
    return body


def _bids(t: OcdsTender, parties: dict[int, OcdsParty]) -> dict[str, Any]:
    statistics: list[dict[str, Any]] = [
        {"id": "bids", "measure": "bids", "value": len(t.bids)},
        {"id": "bidders", "measure": "bidders", "value": len({bid.supplier_id for bid in t.bids})},
    ]
    for lot in t.lots:
        count = sum(1 for bid in t.bids if bid.lot_id == lot.id)
        statistics.append({"id": f"lot-{lot.id}-bids", "measure": "bids", "value": count, "relatedLot": str(lot.id)})
    bids: dict[str, Any] = {"statistics": statistics}
    if t.status in BIDS_DISCLOSED:  # never earlier: before opening a bid's price, date or bidder is not public
        currency = {lot.id: lot.currency for lot in t.lots}
        details = []
        for bid in t.bids:
            detail: dict[str, Any] = {"id": str(bid.id), "date": _when(bid.submitted_at)}
            if bid.status in BID_STATUS:
                detail["status"] = BID_STATUS[bid.status]
            detail["tenderers"] = [_ref(parties[bid.supplier_id])]
            if bid.price is not None:
                detail["value"] = _value(bid.price, currency.get(bid.lot_id, "CNY"))
            detail["relatedLots"] = [str(bid.lot_id)]
            details.append(detail)
        bids["details"] = details
    return bids


def _award(t: OcdsTender, award: OcdsAward, parties: dict[int, OcdsParty]) -> dict[str, Any]:
    if award.status not in AWARD_STATUS:
        raise ValueError(f"award {award.id} has status {award.status!r}, not one of {sorted(AWARD_STATUS)}")
    lot = next((lot for lot in t.lots if lot.id == award.lot_id), None)
    if lot is None:
        raise ValueError(f"award {award.id} names lot {award.lot_id}, which the tender does not have")
    own = tuple(item for item in lot.items if item.manufacturer_id == award.supplier_id) or lot.items
    quantity = award.agreed_volume if len(own) == 1 else None
    body: dict[str, Any] = {"id": str(award.id), "description": award.reason, "status": award.status}
    if award.date is not None:
        body["date"] = _when(award.date)
    if award.agreed_volume:  # the award's total: the price per unit times the agreed volume
        body["value"] = _value(award.price * award.agreed_volume, lot.currency)
    body["suppliers"] = [_ref(parties[award.supplier_id])]
    if own:
        body["items"] = [_item(lot, item, award.price, quantity) for item in own]
    cycle = _cycle(t)
    if cycle:
        body["contractPeriod"] = cycle
    body["relatedLots"] = [str(lot.id)]
    related = [str(b.id) for b in t.bids if b.lot_id == award.lot_id and b.supplier_id == award.supplier_id]
    if related:
        body["relatedBids"] = related
    return body


def _contract(t: OcdsTender, award: OcdsAward) -> dict[str, Any]:
    lot = next(lot for lot in t.lots if lot.id == award.lot_id)
    body: dict[str, Any] = {
        "id": f"{award.id}",
        "awardID": str(award.id),
        "status": "terminated" if t.status == "closed" else "active",
    }
    cycle = _cycle(t)
    if cycle:
        body["period"] = cycle
    if award.agreed_volume:
        body["value"] = _value(award.price * award.agreed_volume, lot.currency)
    return body


def _cycle(t: OcdsTender) -> dict[str, str]:
    period = {}
    if t.period_start:
        period["startDate"] = _day(t.period_start, end=False)
    if t.period_end:
        period["endDate"] = _day(t.period_end, end=True)
    return period


# ---------------------------------------------------------------- the JSON edge


def _value(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"amount": _number(amount), "currency": currency}


def _number(amount: Decimal) -> int | float:
    """Return a Decimal of at most four places as a JSON number that prints back as the same decimal."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"amounts are finite Decimals, not {amount!r}")
    if amount != amount.quantize(Decimal("0.0001")):
        raise ValueError(f"amount {amount} has more than four decimal places")
    if amount == amount.to_integral_value():
        return int(amount)
    number = float(amount)
    if Decimal(repr(number)) != amount:  # beyond 15 significant digits a float would change the amount
        raise ValueError(f"amount {amount} cannot be published as an exact JSON number")
    return number


def _when(moment: dt.datetime | None) -> str | None:
    """Render an aware datetime as RFC 3339 in China time (seconds); None stays None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: OCDS dates need a time zone")
    return moment.astimezone(CHINA_TIME).isoformat(timespec="seconds")


def _day(day: dt.date, *, end: bool) -> str:
    """Render a calendar day as the first (or last) second of that day in China time."""
    if isinstance(day, dt.datetime):
        return _when(day) or ""
    clock = dt.time(23, 59, 59) if end else dt.time(0, 0, 0)
    return dt.datetime.combine(day, clock, tzinfo=CHINA_TIME).isoformat(timespec="seconds")
