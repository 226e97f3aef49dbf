"""EPCIS 2.0 export: CBV steps and dispositions in ledger order, identifiers, access, and the official schema."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from jsonschema.validators import validator_for

from core.db import utcnow
from core.errors import DomainError
from core.models import User
from tests.trace.conftest import Chain, cn20
from trace.epcis import export_item_epcis, item_uri, org_uri
from trace.models import EventType as T
from trace.models import Item, LedgerEntry, TraceEvent
from trace.transitions import EventIn as E

STANDARDS = Path(__file__).resolve().parents[3] / "shared" / "standards" / "epcis"
SCHEMA = STANDARDS / "EPCIS-JSON-Schema.json"
# RFC 3986 absolute URI: a scheme, a colon, then only unreserved, reserved or percent-encoded characters.
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
OFFICIAL_EXAMPLES = (
    "JSON/WithDigitalLinkID/Example_9.6.1-ObjectEventWithDigitalLink.jsonld",
    "JSON/WithDigitalLinkID/Example_9.6.3-AggregationEventWithDigitalLink.jsonld",
    "JSON/WithErrorDeclaration/Example_9.6.1-ObjectEvent-with-error-declaration.jsonld",
    "JSON/PersistentDisposition-example.jsonld",
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    """Return a validator of the official EPCIS 2.0 schema, in its declared draft, checking formats."""
    if not SCHEMA.is_file():
        pytest.skip(f"the EPCIS 2.0 standard files are not at {STANDARDS} (../shared/standards/epcis)")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = validator_for(schema)
    cls.check_schema(schema)
    checker = jsonschema.FormatChecker()  # date-time is built in; jsonschema's "uri" needs a package we lack
    checker.checks("uri")(lambda value: not isinstance(value, str) or bool(URI.match(value)))
    return cls(schema, format_checker=checker)


def errors(validator, document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


@dataclass
class Life:
    pack: str
    case: str
    document: dict[str, Any]


def export(chain: Chain, code: str, who: str = "hospital") -> dict[str, Any]:
    return export_item_epcis(chain.db, code_text=code, actor=chain.actors[who], now=utcnow())


@pytest.fixture
def life(chain: Chain) -> Life:
    """Live a pack's full life: made, cased, shipped, unpacked, sold in part twice, undone, recalled, returned."""
    pack, case = cn20(chain.pack.product_id), cn20(chain.case.product_id)
    distributor, hospital = chain.distributor.id, chain.hospital.id
    chain.ok(
        "maker",
        E(T.COMMISSION, pack, batch="L2401", expiry=dt.date(2028, 12, 31)),
        E(T.COMMISSION, case),
        E(T.AGGREGATE, case, children=(pack,)),
        E(T.SHIP, case, to_org_id=distributor),
    )
    chain.ok("distributor", E(T.RECEIVE, case), E(T.DISAGGREGATE, case), E(T.SHIP, pack, to_org_id=hospital))
    chain.ok("hospital", E(T.RECEIVE, pack), E(T.DISPENSE, pack, quantity=10), E(T.DISPENSE, pack, quantity=18))
    chain.ok("hospital", E(T.UNDO, pack))
    chain.ok("maker", E(T.RECALL, pack))
    chain.ok("hospital", E(T.RETURN, pack), E(T.DESTROY, pack))
    return Life(pack, case, export(chain, pack))


def test_a_full_life_maps_to_cbv_steps_and_dispositions_in_ledger_order(life, chain):
    events = life.document["epcisBody"]["eventList"]
    assert [(e["type"], e["action"], e["bizStep"], e.get("disposition")) for e in events] == [
        ("ObjectEvent", "ADD", "commissioning", "active"),
        ("AggregationEvent", "ADD", "packing", "in_progress"),
        ("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
        ("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
        ("AggregationEvent", "DELETE", "unpacking", "in_progress"),
        ("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
        ("ObjectEvent", "OBSERVE", "receiving", "in_progress"),
        ("ObjectEvent", "OBSERVE", "dispensing", "partially_dispensed"),
        ("ObjectEvent", "OBSERVE", "dispensing", "dispensed"),
        ("ObjectEvent", "OBSERVE", "dispensing", "dispensed"),  # the undo: the sale repeated, declared in error
        ("ObjectEvent", "OBSERVE", "holding", "recalled"),
        ("ObjectEvent", "OBSERVE", "receiving", "returned"),
        ("ObjectEvent", "DELETE", "destroying", "destroyed"),
    ]
    assert [e["yl:eventType"] for e in events] == [
        "commission", "aggregate", "ship", "receive", "disaggregate", "ship", "receive",
        "dispense", "dispense", "dispense", "recall", "return", "destroy",
    ]  # fmt: skip
    pack_uri, case_uri = item_uri(f"cn20:{life.pack}"), item_uri(f"cn20:{life.case}")
    assert pack_uri == f"https://yaolian.example/cn20/{life.pack}"
    for aggregation in (events[1], events[4]):
        assert aggregation["parentID"] == case_uri and aggregation["childEPCs"] == [pack_uri]
    assert all(e["epcList"] == [pack_uri] for e in events if e["type"] == "ObjectEvent")
    assert events[2]["yl:via"] == case_uri and events[3]["yl:via"] == case_uri and "yl:via" not in events[5]
    assert events[0]["ilmd"] == {"cbvmda:lotNumber": "L2401", "cbvmda:itemExpirationDate": "2028-12-31"}
    assert [e.get("yl:dispensedQuantity") for e in events[7:10]] == [10, 18, 18]
    assert events[10]["persistentDisposition"] == {"set": ["recalled"]}
    assert life.document["@context"] == [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"yl": "https://yaolian.example/epcis/"},
    ]
    assert life.document["type"] == "EPCISDocument" and life.document["schemaVersion"] == "2.0"


def test_shipments_name_organisations_as_owning_parties(life, chain):
    maker, distributor, hospital = (org_uri(o.uscc) for o in (chain.maker, chain.distributor, chain.hospital))
    events = life.document["epcisBody"]["eventList"]
    first_ship, first_receipt, second_ship, second_receipt = events[2], events[3], events[5], events[6]
    assert first_ship["sourceList"] == [{"type": "owning_party", "source": maker}]
    assert first_ship["destinationList"] == [{"type": "owning_party", "destination": distributor}]
    assert first_receipt["sourceList"] == [{"type": "owning_party", "source": maker}]
    assert first_receipt["bizLocation"] == {"id": distributor} and "bizLocation" not in first_ship
    assert second_ship["readPoint"] == {"id": distributor}
    assert second_receipt["destinationList"] == [{"type": "owning_party", "destination": hospital}]
    assert maker == f"https://yaolian.example/org/{chain.maker.uscc}"


def test_event_ids_are_the_ledger_leaf_hashes_and_an_undo_declares_the_sale_in_error(life, chain):
    db = chain.db
    pack = db.exec(sa.select(Item.id).where(Item.code_key == f"cn20:{life.pack}")).one()[0]
    rows = db.exec(
        sa.select(TraceEvent.ledger_index, LedgerEntry.leaf_hash)
        .join(LedgerEntry, LedgerEntry.idx == TraceEvent.ledger_index)
        .where(TraceEvent.item_id == pack)
        .order_by(TraceEvent.id)
    ).all()
    ni = [f"ni:///sha-256;{base64.urlsafe_b64encode(bytes(leaf)).rstrip(b'=').decode()}" for _, leaf in rows]
    events = life.document["epcisBody"]["eventList"]
    undo_at = 9
    assert [e["eventID"] for i, e in enumerate(events) if i != undo_at] == ni[:undo_at] + ni[undo_at + 1 :]
    assert [e["yl:ledgerIndex"] for e in events[:undo_at]] == [idx for idx, _ in rows[:undo_at]]
    sale, declared = events[8], events[undo_at]
    declaration = declared.pop("errorDeclaration")
    assert declaration["reason"] == "did_not_occur"
    assert declaration["yl:declarationID"] == ni[undo_at] and declaration["yl:ledgerIndex"] == rows[undo_at][0]
    assert declared.pop("recordTime") >= sale.pop("recordTime") and declared == sale
    assert declaration["declarationTime"] >= sale["eventTime"]
    assert all(e["eventTime"].endswith("Z") and e["eventTimeZoneOffset"] == "+08:00" for e in events)


def test_the_full_life_validates_against_the_official_schema(life, chain, validator):
    assert errors(validator, life.document) == []
    case = export(chain, life.case, who="distributor")
    assert errors(validator, case) == []
    assert [e["bizStep"] for e in case["epcisBody"]["eventList"]] == [
        "commissioning", "packing", "shipping", "receiving", "unpacking",
    ]  # fmt: skip
    assert case["epcisBody"]["eventList"][1]["childEPCs"] == [item_uri(f"cn20:{life.pack}")]


def test_gs1_packs_are_digital_link_uris_with_lot_and_expiry(chain, validator):
    gtin = chain.gs1_pack.gtin
    code = chain.delivered(f"01{gtin}1728063010B/7\x1d21S/01")
    chain.ok("hospital", E(T.DISPENSE, code))
    document = export(chain, code)
    events = document["epcisBody"]["eventList"]
    assert events[0]["epcList"] == [f"https://id.gs1.org/01/{gtin}/21/S%2F01"]
    assert events[0]["ilmd"] == {"cbvmda:lotNumber": "B/7", "cbvmda:itemExpirationDate": "2028-06-30"}
    assert events[-1]["disposition"] == "dispensed" and "yl:dispensedQuantity" not in events[-1]
    assert errors(validator, document) == []


def test_the_export_is_for_parties_that_held_the_pack_and_auditors(life, chain):
    audited = export(chain, life.pack, who="auditor")
    assert audited.pop("creationDate") >= life.document.pop("creationDate") and audited == life.document
    with pytest.raises(DomainError) as refused:
        export(chain, life.pack, who="other_hospital")
    assert refused.value.kind == "not_found"


@pytest.mark.parametrize("example", OFFICIAL_EXAMPLES)
def test_the_validator_accepts_the_standards_own_examples(validator, example):
    document = json.loads((STANDARDS / example).read_text(encoding="utf-8"))
    assert errors(validator, document) == []


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        ((0, "bizStep"), "teleporting", "bizStep"),
        ((0, "action"), "MOVE", "action"),
        ((0, "eventTime"), "yesterday", "date-time"),
        ((0, "eventTimeZoneOffset"), "+8", "eventTimeZoneOffset"),
        ((0, "epcList"), ["not a uri"], "epcList"),
        ((1, "childEPCs"), ["urn:epc:id:sgtin 1"], "childEPCs"),
        ((1, "eventTime"), None, "eventTime"),
    ],
)
def test_the_validator_rejects_a_broken_document(life, validator, path, value, complaint):
    broken = copy.deepcopy(life.document)
    event = broken["epcisBody"]["eventList"][path[0]]
    if value is None:
        del event[path[1]]
    else:
        event[path[1]] = value
    found = errors(validator, broken)
    assert found and any(complaint in message for message in found), found


# ------------------------------------------------------------ HTTP


@pytest.fixture
def http(api, chain):
    def as_org(name: str):
        return api(chain.db.get(User, chain.actors[name].user_id))

    return as_org


def test_get_epcis_answers_json_ld_to_holders_and_auditors_and_404_to_others(http, chain, validator):
    code = chain.delivered(cn20(chain.pack.product_id))
    response = http("hospital").get(f"/api/v1/trace/items/{code}/epcis")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    body = response.json
    assert body["type"] == "EPCISDocument" and errors(validator, body) == []
    assert [e["bizStep"] for e in body["epcisBody"]["eventList"]] == [
        "commissioning", "shipping", "receiving", "shipping", "receiving",
    ]  # fmt: skip
    assert http("auditor").get(f"/api/v1/trace/items/{code}/epcis").status_code == 200
    assert http("other_hospital").get(f"/api/v1/trace/items/{code}/epcis").status_code == 404
    assert http("hospital").get("/api/v1/trace/items/12345/epcis").status_code == 422


def test_the_epcis_route_wins_for_its_suffix_and_leaves_the_item_route_alone(http, chain, client):
    code = chain.delivered(cn20(chain.pack.product_id))
    urls = client.application.url_map.bind("localhost")
    assert urls.match(f"/api/v1/trace/items/{code}/epcis") == ("trace_api.get_trace_item_epcis", {"code": code})
    assert urls.match(f"/api/v1/trace/items/{code}") == ("trace_api.get_trace_item", {"code": code})
    item = http("hospital").get(f"/api/v1/trace/items/{code}")
    assert item.status_code == 200 and item.mimetype == "application/json" and item.json["code"] == code
