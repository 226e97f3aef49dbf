"""Bulk import of CSV and JSONL event files: row-level reports, all or nothing, idempotent, pseudonymised."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.actor import Actor
from core.alerts import Alert
from core.db import make_engine, new_session, utcnow
from core.models import AuditRecord
from core.pseudonym import pseudonymise
from core.roles import OrgKind, Role
from core.schema import upgrade
from tests.factories import Factory
from tests.trace.conftest import cn20, gs1
from trace import capture, importer, ledger, rules
from trace.codes import parse
from trace.items import code_key, register_trade_item
from trace.models import CaptureBatch, EventType, Item, LedgerEntry, TraceEvent
from trace.transitions import EventIn

KEY = b"k" * 32
ROOT = Path(__file__).resolve().parents[2]
CST = dt.timezone(dt.timedelta(hours=8))


def when(hours_ago: float) -> str:
    return (utcnow() - dt.timedelta(hours=hours_ago)).astimezone(CST).isoformat()


def csv_bytes(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=importer.FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def run(chain, who: str, data: bytes, fmt: str = "csv") -> importer.ImportResult:
    parsed = importer.read_events(chain.db, data=data, fmt=fmt, pseudonym_key=KEY)
    return importer.import_events(chain.db, parsed=parsed, actor=chain.actors[who], now=utcnow())


def problems(result_or_parsed) -> list[tuple[int, str | None]]:
    return [(p.line, p.column) for p in result_or_parsed.problems]


def count(db, model) -> int:
    return db.exec(sa.select(sa.func.count()).select_from(model)).one()[0]


def written(db) -> tuple[int, ...]:
    return tuple(count(db, model) for model in (Item, TraceEvent, CaptureBatch, LedgerEntry, Alert, AuditRecord))


def pack(db, code: str) -> Item:
    return db.exec(sa.select(Item).where(Item.code_key == code_key(parse(code)))).scalars().one()


def test_csv_and_jsonl_files_carry_packs_from_maker_to_patient(chain):
    packs = [cn20(chain.pack.product_id) for _ in range(3)]
    gs1_pack, case = gs1(chain.gs1_pack.gtin), cn20(chain.case.product_id)
    to_distributor = chain.distributor.uscc.lower()  # USCCs are matched without regard to case
    maker_rows = [{"type": "commission", "code": code, "at": when(50), "batch": "B2401"} for code in (*packs, gs1_pack)]
    maker_rows += [
        {"type": "commission", "code": case, "at": when(50)},
        {"type": "aggregate", "code": case, "children": "|".join(packs[:2]), "at": when(49)},
        {"type": "ship", "code": case, "to_org": to_distributor, "at": when(48)},
        {"type": "ship", "code": packs[2], "to_org": to_distributor, "at": when(48)},
        {"type": "ship", "code": gs1_pack, "to_org": to_distributor, "at": when(48)},
    ]
    made = run(chain, "maker", csv_bytes(maker_rows))
    assert made.accepted, made.problems
    assert (made.events, len(made.batches), made.entries) == (9, 1, 13)  # the case carried two packs

    hospital = chain.hospital.uscc
    distributor_rows = [
        {"type": "receive", "code": case, "at": when(30)},
        {"type": "disaggregate", "code": case, "at": when(29)},
        *({"type": "receive", "code": c, "at": when(30)} for c in (packs[2], gs1_pack)),
        *({"type": "ship", "code": c, "to_org": hospital, "at": when(28)} for c in (*packs, gs1_pack)),
    ]
    assert run(chain, "distributor", jsonl_bytes(distributor_rows), "jsonl").accepted
    hospital_rows = [
        *({"type": "receive", "code": c, "at": when(20)} for c in (*packs, gs1_pack)),
        {"type": "dispense", "code": packs[0], "at": when(10), "patient_id": "MRN-0001"},
        {"type": "dispense", "code": packs[1], "at": when(9), "quantity": 7, "patient_id": "MRN-0002"},
        {"type": "dispense", "code": gs1_pack, "at": when(8), "insurance_code": None},
    ]
    dispensed = run(chain, "hospital", jsonl_bytes(hospital_rows), "jsonl")
    assert dispensed.accepted, dispensed.problems
    assert [pack(chain.db, c).status for c in (*packs, gs1_pack)] == ["dispensed", "partial", "active", "dispensed"]
    assert pack(chain.db, packs[1]).dispensed_units == 7
    assert pack(chain.db, packs[2]).custodian_org_id == chain.hospital.id
    assert ledger.size(chain.db) == count(chain.db, TraceEvent)


def test_bad_rows_are_reported_by_line_and_column_and_nothing_is_written(chain):
    before = written(chain.db)
    good = cn20(chain.pack.product_id)
    rows = [
        {"type": "commission", "code": good, "at": when(5)},  # line 2: fine
        {"type": "sell", "code": cn20(chain.pack.product_id)},  # 3: unknown type
        {"type": "commission", "code": cn20(chain.pack.product_id), "at": "yesterday"},  # 4: bad date
        {"type": "commission", "code": cn20(chain.pack.product_id), "at": "2025-07-01T09:00:00"},  # 5: no offset
        {"type": "ship", "code": good, "to_org": "91350200MA01XXXXXX"},  # 6: unknown USCC
        {"type": "commission", "code": "6901234567892"},  # 7: a commodity barcode
        {"type": "ship", "code": good},  # 8: a shipment without a receiver
        {"type": "commission", "code": good, "quantity": "2.5"},  # 9: not a whole number
        {"type": "aggregate", "code": good, "children": f"{good}|123"},  # 10: second child unreadable
        {"type": "commission", "code": good, "expiry": "31/12/2027"},  # 11: bad expiry
        {"type": "ship", "code": good, "to_org": "NOPE", "quantity": "0"},  # 12: two bad fields
    ]
    parsed = importer.read_events(chain.db, data=csv_bytes(rows), fmt="csv", pseudonym_key=KEY)
    assert problems(parsed) == [
        (3, "type"), (4, "at"), (5, "at"), (6, "to_org"), (7, "code"), (8, "to_org"),
        (9, "quantity"), (10, "children"), (11, "expiry"), (12, "quantity"), (12, "to_org"),
    ]  # fmt: skip
    assert "EAN-13" in parsed.problems[4].reason and "code 2" in parsed.problems[7].reason
    assert parsed.events == []
    result = importer.import_events(chain.db, parsed=parsed, actor=chain.actors["maker"], now=utcnow())
    assert not result.accepted and result.problems == parsed.problems
    assert written(chain.db) == before


def test_bad_json_lines_and_headers_are_reported(chain):
    lines = [
        json.dumps({"type": "commission", "code": cn20(chain.pack.product_id)}),
        "{not json",
        json.dumps({"type": "commission", "code": cn20(chain.pack.product_id), "to_org_id": 3}),
        "",
        json.dumps({"type": "dispense", "code": cn20(chain.pack.product_id), "quantity": 2.5}),
        json.dumps(["commission"]),
        json.dumps({"type": "commission", "code": 12345678901234567890}),
    ]
    parsed = importer.read_events(chain.db, data="\n".join(lines).encode(), fmt="jsonl", pseudonym_key=KEY)
    assert problems(parsed) == [(2, None), (3, "to_org_id"), (5, "quantity"), (6, None), (7, "code")]
    header = b"type,code,when\ncommission,x\n"
    assert problems(importer.read_events(chain.db, data=header, fmt="csv", pseudonym_key=KEY)) == [(1, "when")]
    latin = importer.read_events(chain.db, data=b"type,code\ncommission,\xff\n", fmt="csv", pseudonym_key=KEY)
    assert problems(latin) == [(2, None)] and "UTF-8" in latin.problems[0].reason
    empty = importer.read_events(chain.db, data=b"type,code\n", fmt="csv", pseudonym_key=KEY)
    assert empty.problems[0].reason == "the file holds no events"


def test_events_the_organisation_may_not_report_are_named_by_line(chain):
    rows = [{"type": "dispense", "code": cn20(chain.pack.product_id)}]
    result = run(chain, "maker", csv_bytes(rows))
    assert not result.accepted and problems(result) == [(2, "type")]


def test_a_refused_chunk_rolls_back_the_whole_file(chain, monkeypatch):
    monkeypatch.setattr(capture, "MAX_EVENTS", 2)
    before = written(chain.db)
    codes = [cn20(chain.pack.product_id) for _ in range(4)]
    rows = [{"type": "commission", "code": c} for c in codes]
    rows.append({"type": "commission", "code": codes[1]})  # line 6, in the third chunk: already commissioned
    result = run(chain, "maker", csv_bytes(rows))
    assert not result.accepted
    assert [(p.line, p.reason.split(":")[0]) for p in result.problems] == [(6, "code_exists")]
    assert "chunk 2, event 0" in result.problems[0].reason
    assert written(chain.db) == before  # the two accepted chunks were undone too

    del rows[-1]
    result = run(chain, "maker", csv_bytes(rows))
    assert result.accepted and len(result.batches) == 2 and result.entries == 4
    assert result.batches[0]["ledger"]["first_index"] == 0  # the undone appends left no trace in the log
    assert ledger.size(chain.db) == count(chain.db, LedgerEntry) == 4


def test_refusals_name_the_rule_they_break(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", EventIn(EventType.DISPENSE, code))
    result = run(chain, "hospital", jsonl_bytes([{"type": "dispense", "code": code}]), "jsonl")
    assert not result.accepted
    assert problems(result) == [(1, None)] and rules.DUPLICATE_SALE in result.problems[0].reason
    # The whole file is one unit of work: the refused batch and its alert are not kept.
    assert chain.db.exec(sa.select(Alert.code)).scalars().all() == []


def test_importing_the_same_file_again_writes_nothing(chain, monkeypatch):
    monkeypatch.setattr(capture, "MAX_EVENTS", 3)
    rows = [{"type": "commission", "code": cn20(chain.pack.product_id), "at": when(2)} for _ in range(7)]
    data = csv_bytes(rows)
    first = run(chain, "maker", data)
    assert first.accepted and first.replayed == 0 and len(first.batches) == 3
    after_first = written(chain.db)
    again = run(chain, "maker", data)
    assert again.accepted and again.replayed == 3
    assert again.batches == first.batches
    assert "nothing written" in again.summary()
    assert written(chain.db) == after_first
    ids = chain.db.exec(sa.select(CaptureBatch.client_batch_id).order_by(CaptureBatch.id)).scalars().all()
    assert ids == [importer.batch_id(first.sha256, n) for n in range(3)]


def test_patient_identifiers_are_never_stored_in_clear(chain):
    codes = [chain.delivered(cn20(chain.pack.product_id)) for _ in range(2)]
    clear = "350203199001011234"
    rows = [
        {"type": "dispense", "code": codes[0], "patient_id": clear},
        {"type": "dispense", "code": codes[1], "patient_id": clear, "quantity": "14"},
    ]
    assert run(chain, "hospital", csv_bytes(rows)).accepted
    refs = chain.db.exec(sa.select(TraceEvent.patient_ref).where(TraceEvent.type == "dispense")).scalars().all()
    assert refs == [pseudonymise(KEY, clear)] * 2
    assert all(re.fullmatch(r"[0-9a-f]{64}", ref) for ref in refs)
    stored = [
        *chain.db.exec(sa.select(TraceEvent)).scalars(),
        *chain.db.exec(sa.select(CaptureBatch.result)).scalars(),
        *chain.db.exec(sa.select(AuditRecord.details)).scalars(),
    ]
    assert clear not in repr([vars(row) if hasattr(row, "__dict__") else row for row in stored])
    for entry in chain.db.exec(sa.select(LedgerEntry.entry)).scalars():
        assert clear.encode() not in bytes(entry)


@pytest.mark.parametrize("name, expected", [("a.csv", "csv"), ("b.JSONL", "jsonl"), ("c.ndjson", "jsonl")])
def test_the_format_follows_the_extension(name, expected):
    assert importer.format_of(name) == expected
    assert importer.format_of(name, "csv") == "csv"


def test_an_unknown_extension_needs_a_format():
    with pytest.raises(ValueError, match="--format"):
        importer.format_of("events.txt")


def test_the_command_imports_once_and_reports_bad_files(tmp_path):
    """Run ``manage trace-import`` against a SQLite file: exit 0 twice for one file, 1 with the report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YAOLIAN_")}
    env |= {
        "YAOLIAN_ENV": "development",
        "YAOLIAN_DATABASE_URL": f"sqlite:///{tmp_path / 'import.db'}",
        "YAOLIAN_INSTANCE_PATH": str(tmp_path / "instance"),
    }

    def manage(*args):
        return subprocess.run(
            [sys.executable, "-m", "scripts.manage", *args], cwd=ROOT, env=env, capture_output=True, text=True
        )

    upgrade(env["YAOLIAN_DATABASE_URL"])
    engine = make_engine(env["YAOLIAN_DATABASE_URL"])
    with new_session(engine) as db:
        factory = Factory(db)
        maker = factory.org(OrgKind.MANUFACTURER)
        factory.user(maker, roles=(Role.SUPPLIER_REP,), username="maker.rep")
        product_id = "8990001"
        register_trade_item(
            db, actor=Actor.system("tests"), name="pack", holder_org_id=maker.id, pack_size=7, unit="片",
            product_id=product_id,
        )  # fmt: skip
        db.commit()
    engine.dispose()
    good = tmp_path / "maker.csv"
    good.write_bytes(csv_bytes([{"type": "commission", "code": f"{product_id}{n:09d}0000"} for n in range(30)]))
    first = manage("trace-import", str(good), "--as", "maker.rep")
    assert first.returncode == 0, first.stderr
    assert "imported 30 events in 1 batches: 30 ledger entries" in first.stdout
    assert "capturing" in first.stderr  # the progress bar
    again = manage("trace-import", str(good), "--as", "maker.rep")
    assert again.returncode == 0 and "nothing written" in again.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"type": "commission", "code": "123"}) + "\n")
    refused = manage("trace-import", str(bad), "--as", "maker.rep")
    assert refused.returncode == 1 and "line 1, column code" in refused.stderr
    assert manage("trace-import", str(good), "--as", "nobody").returncode == 2
