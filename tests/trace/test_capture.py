"""Custody events, their rules, atomic and idempotent capture, the packaging hierarchy and the R1–R7 alerts."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.alerts import Alert
from core.db import utcnow
from core.errors import DomainError
from tests.trace.conftest import cn20, gs1
from trace import ledger, rules
from trace.models import EventType, Item, ItemStatus, TraceEvent
from trace.transitions import EventIn

E = EventIn
T = EventType


def item(chain, code: str) -> Item:
    from trace.codes import parse
    from trace.items import code_key

    return chain.db.exec(sa.select(Item).where(Item.code_key == code_key(parse(code)))).scalars().one()


def refused(result) -> list[tuple[int, str]]:
    assert not result.accepted
    return [(r["position"], r["code"]) for r in result.body["rejected"]]


def alert_codes(chain) -> list[str]:
    return chain.db.exec(sa.select(Alert.code).order_by(Alert.id)).scalars().all()


def test_a_pack_travels_from_maker_to_patient(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    result = chain.ok("hospital", E(T.DISPENSE, code, patient_ref="p1"))
    pack = item(chain, code)
    assert (pack.status, pack.custodian_org_id, pack.dispensed_units) == ("dispensed", chain.hospital.id, 28)
    types = chain.db.exec(sa.select(TraceEvent.type).where(TraceEvent.item_id == pack.id).order_by(TraceEvent.id))
    assert types.scalars().all() == ["commission", "ship", "receive", "ship", "receive", "dispense"]
    assert result.body["ledger"]["tree_size"] == ledger.size(chain.db) == 6


def test_gs1_packs_carry_batch_and_expiry(chain):
    code = chain.delivered(gs1(chain.gs1_pack.gtin, expiry="270200", batch="L77"))
    pack = item(chain, code)
    assert (pack.batch, pack.expiry) == ("L77", dt.date(2027, 2, 28))


def test_one_code_is_commissioned_once_and_only_by_its_holder(chain):
    code = cn20(chain.pack.product_id)
    assert refused(chain.run("distributor", E(T.COMMISSION, code))) == [(0, "not_holder")]
    chain.ok("maker", E(T.COMMISSION, code))
    assert refused(chain.run("maker", E(T.COMMISSION, code))) == [(0, "code_exists")]
    assert refused(chain.run("maker", E(T.COMMISSION, cn20("7777777")))) == [(0, "unregistered_product")]


def test_custody_rules(chain):
    code = cn20(chain.pack.product_id)
    chain.ok("maker", E(T.COMMISSION, code))
    assert refused(chain.run("distributor", E(T.SHIP, code, to_org_id=chain.hospital.id))) == [(0, "not_custodian")]
    chain.ok("maker", E(T.SHIP, code, to_org_id=chain.distributor.id))
    assert refused(chain.run("hospital", E(T.RECEIVE, code))) == [(0, "not_shipped_to_you")]
    assert refused(chain.run("distributor", E(T.SHIP, code, to_org_id=chain.hospital.id))) == [(0, "not_received")]


def test_only_hospitals_dispense(chain):
    code = cn20(chain.pack.product_id)
    chain.ok("maker", E(T.COMMISSION, code))
    with pytest.raises(DomainError) as err:
        chain.run("maker", E(T.DISPENSE, code))
    assert err.value.code == "event_not_allowed"


def test_expired_packs_are_refused(chain):
    code = chain.delivered(gs1(chain.gs1_pack.gtin, expiry="240100"))
    assert refused(chain.run("hospital", E(T.DISPENSE, code))) == [(0, "expired")]


def test_r1_duplicate_sale(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", E(T.DISPENSE, code))
    result = chain.run("hospital", E(T.DISPENSE, code))
    assert refused(result) == [(0, "duplicate_sale")]
    assert result.body["alerts"][0]["code"] == rules.DUPLICATE_SALE
    alert = chain.db.get(Alert, result.body["alerts"][0]["alert_id"])
    assert alert.severity == "high" and alert.evidence["earlier_dispenses"][0]["org_id"] == chain.hospital.id
    assert alert.rule["name"] == "trace.rules" and "5.6.7" in alert.rule["cites"]


def test_r2_sold_by_a_second_institution(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", E(T.DISPENSE, code))
    result = chain.run("other_hospital", E(T.DISPENSE, code))
    assert refused(result) == [(0, "sold_elsewhere")]
    alert = chain.db.get(Alert, result.body["alerts"][0]["alert_id"])
    assert alert.code == rules.TWO_INSTITUTIONS and alert.evidence["close_in_time"] is True
    assert alert.subject_org_id == chain.other_hospital.id


def test_r2_a_split_pack_partly_sold_here_and_then_sold_elsewhere(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", E(T.DISPENSE, code, quantity=7))
    result = chain.run("other_hospital", E(T.DISPENSE, code, quantity=7))
    assert refused(result) == [(0, "sold_elsewhere")]  # R2 (critical), not only "sold without receipt" (R6)
    assert alert_codes(chain) == [rules.TWO_INSTITUTIONS]


def test_commissioning_refuses_an_expiry_other_than_the_codes(chain):
    code = gs1(chain.gs1_pack.gtin, expiry="270200", batch="L77")
    wrong = E(T.COMMISSION, code, expiry=dt.date(2027, 3, 31))
    assert refused(chain.run("maker", wrong)) == [(0, "expiry_mismatch")]
    chain.ok("maker", E(T.COMMISSION, code, expiry=dt.date(2027, 2, 28)))  # day 00: the month's last day


def test_r3_split_packs_never_exceed_the_pack(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", E(T.DISPENSE, code, quantity=20, patient_ref="p1"))
    assert item(chain, code).status == "partial"
    assert refused(chain.run("hospital", E(T.DISPENSE, code))) == [(0, "split_pack")]
    result = chain.run("hospital", E(T.DISPENSE, code, quantity=9, patient_ref="p1"))
    assert refused(result) == [(0, "over_dispense")] and alert_codes(chain) == [rules.SPLIT_OVER_DISPENSE]
    chain.ok("hospital", E(T.DISPENSE, code, quantity=8, patient_ref="p1"))
    pack = item(chain, code)
    assert (pack.status, pack.dispensed_units) == ("dispensed", 28)


def test_r5_code_must_match_the_settled_drug(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    result = chain.run("hospital", E(T.DISPENSE, code, insurance_code="XC10AAA999A001010101351"))
    assert refused(result) == [(0, "product_mismatch")] and alert_codes(chain) == [rules.PRODUCT_MISMATCH]
    chain.ok("hospital", E(T.DISPENSE, code, insurance_code=chain.pack.insurance_code))


@pytest.mark.parametrize("how", ["without_receipt", "after_return", "after_destruction"])
def test_r6_chain_breaks(chain, how):
    code = chain.delivered(cn20(chain.pack.product_id))
    if how == "without_receipt":
        result = chain.run("other_hospital", E(T.DISPENSE, code))
        assert refused(result) == [(0, "not_received")]
    elif how == "after_return":
        chain.ok("hospital", E(T.DISPENSE, code), E(T.RETURN, code))
        assert refused(chain.run("hospital", E(T.DISPENSE, code))) == [(0, "sold_after_returned")]
    else:
        chain.ok("hospital", E(T.DESTROY, code))
        assert refused(chain.run("hospital", E(T.DISPENSE, code))) == [(0, "sold_after_destroyed")]
    assert alert_codes(chain) == [rules.CHAIN_BREAK]


def test_r7_split_pack_to_a_second_patient_is_flagged_but_accepted(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", E(T.DISPENSE, code, quantity=7, patient_ref="p1"))
    result = chain.ok("hospital", E(T.DISPENSE, code, quantity=7, patient_ref="p2"))
    assert [a["code"] for a in result.body["alerts"]] == [rules.SAME_CODE_TWO_PATIENTS]


def test_recalled_packs_cannot_be_dispensed_but_can_go_back(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("maker", E(T.RECALL, code))
    result = chain.run("hospital", E(T.DISPENSE, code))
    assert refused(result) == [(0, "recalled")] and alert_codes(chain) == [rules.RECALLED_DISPENSE]
    assert refused(chain.run("hospital", E(T.SHIP, code, to_org_id=chain.distributor.id))) == [(0, "recalled")]
    chain.ok("hospital", E(T.SHIP, code, to_org_id=chain.maker.id))
    chain.ok("maker", E(T.RECEIVE, code), E(T.DESTROY, code))
    assert item(chain, code).status == "destroyed"


def test_cases_carry_their_packs(chain):
    case = cn20(chain.case.product_id)
    packs = [cn20(chain.pack.product_id) for _ in range(3)]
    chain.ok("maker", *[E(T.COMMISSION, c) for c in [case, *packs]], E(T.AGGREGATE, case, children=tuple(packs)))
    assert refused(chain.run("maker", E(T.SHIP, packs[0], to_org_id=chain.distributor.id))) == [(0, "in_case")]
    result = chain.ok("maker", E(T.SHIP, case, to_org_id=chain.distributor.id))
    assert result.body["entries"] == 4  # the case and its three packs each get an entry
    chain.ok("distributor", E(T.RECEIVE, case))
    assert {item(chain, c).custodian_org_id for c in packs} == {chain.distributor.id}
    chain.ok("distributor", E(T.DISAGGREGATE, case, children=(packs[0],)))
    chain.ok("distributor", E(T.SHIP, packs[0], to_org_id=chain.hospital.id))
    assert item(chain, packs[0]).parent_id is None and item(chain, packs[1]).parent_id == item(chain, case).id


def test_a_case_holding_a_recalled_pack_goes_nowhere_but_back_to_the_holder(chain):
    case = cn20(chain.case.product_id)
    packs = [cn20(chain.pack.product_id) for _ in range(2)]
    chain.ok("maker", *[E(T.COMMISSION, c) for c in [case, *packs]], E(T.AGGREGATE, case, children=tuple(packs)),
             E(T.SHIP, case, to_org_id=chain.distributor.id))  # fmt: skip
    chain.ok("distributor", E(T.RECEIVE, case))
    chain.ok("maker", E(T.RECALL, packs[1]))  # one pack of the case, while the distributor holds it
    assert refused(chain.run("distributor", E(T.SHIP, case, to_org_id=chain.hospital.id))) == [(0, "recalled")]
    loose, spare = cn20(chain.pack.product_id), cn20(chain.case.product_id)
    chain.ok("maker", E(T.COMMISSION, loose), E(T.COMMISSION, spare), E(T.SHIP, loose, to_org_id=chain.distributor.id),
             E(T.SHIP, spare, to_org_id=chain.distributor.id))  # fmt: skip
    chain.ok("distributor", E(T.RECEIVE, loose), E(T.RECEIVE, spare))
    chain.ok("maker", E(T.RECALL, loose))
    assert refused(chain.run("distributor", E(T.AGGREGATE, spare, children=(loose,)))) == [(0, "recalled")]
    chain.ok("distributor", E(T.SHIP, case, to_org_id=chain.maker.id))  # back to the holder is allowed


def test_a_pack_has_at_most_one_case(chain):
    a, b = cn20(chain.case.product_id), cn20(chain.case.product_id)
    pack = cn20(chain.pack.product_id)
    made = [E(T.COMMISSION, c) for c in (a, b, pack)]
    chain.ok("maker", *made, E(T.AGGREGATE, a, children=(pack,)))
    assert refused(chain.run("maker", E(T.AGGREGATE, b, children=(pack,)))) == [(0, "has_parent")]
    assert refused(chain.run("maker", E(T.AGGREGATE, pack, children=(a,)))) == [(0, "bad_level")]


def test_a_batch_is_all_or_nothing_and_lists_every_refusal(chain):
    good, held = cn20(chain.pack.product_id), chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", E(T.DISPENSE, held))
    size, items = ledger.size(chain.db), chain.db.exec(sa.select(sa.func.count()).select_from(Item)).one()[0]
    result = chain.run("maker", E(T.COMMISSION, good), E(T.COMMISSION, "12345"), E(T.SHIP, good, to_org_id=None))
    assert [p for p, _ in refused(result)] == [1, 2]
    assert ledger.size(chain.db) == size
    assert chain.db.exec(sa.select(sa.func.count()).select_from(Item)).one()[0] == items
    attempt = chain.run("hospital", E(T.DISPENSE, held), E(T.DISPENSE, cn20(chain.pack.product_id)))
    assert refused(attempt) == [(0, "duplicate_sale"), (1, "unknown_code")]
    assert alert_codes(chain) == [rules.DUPLICATE_SALE]  # kept although the batch was refused


def test_a_retried_batch_returns_the_first_answer_and_stores_nothing_twice(chain):
    code = cn20(chain.pack.product_id)
    first = chain.ok("maker", E(T.COMMISSION, code), batch_id="erp-42")
    again = chain.run("maker", E(T.COMMISSION, code), batch_id="erp-42")
    assert again.replay and again.body == first.body and ledger.size(chain.db) == 1
    with pytest.raises(DomainError) as err:
        chain.run("maker", E(T.COMMISSION, cn20(chain.pack.product_id)), batch_id="erp-42")
    assert err.value.code == "batch_id_reused"
    refusal = chain.run("hospital", E(T.DISPENSE, code), batch_id="his-1")
    repeat = chain.run("hospital", E(T.DISPENSE, code), batch_id="his-1")
    assert repeat.replay and repeat.body == refusal.body and len(alert_codes(chain)) == len(set(alert_codes(chain)))


def test_undo_within_the_window_by_the_same_location(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    now = utcnow()
    chain.ok("hospital", E(T.DISPENSE, code, at=now - dt.timedelta(days=1)), now=now)
    assert refused(chain.run("other_hospital", E(T.UNDO, code))) == [(0, "other_location")]
    chain.ok("hospital", E(T.UNDO, code))
    assert item(chain, code).status == "active"
    chain.ok("hospital", E(T.DISPENSE, code, at=now - dt.timedelta(days=11)), now=now)
    assert refused(chain.run("hospital", E(T.UNDO, code))) == [(0, "undo_window_passed")]
    other = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", E(T.DESTROY, other))
    assert refused(chain.run("hospital", E(T.UNDO, other))) == [(0, "irreversible")]


def test_future_event_times_are_refused(chain):
    code = cn20(chain.pack.product_id)
    later = utcnow() + dt.timedelta(hours=2)
    assert refused(chain.run("maker", E(T.COMMISSION, code, at=later))) == [(0, "future_time")]


def test_item_statuses_are_the_declared_ones(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    assert item(chain, code).status in {s.value for s in ItemStatus}


def test_the_sender_takes_back_a_pack_still_in_transit(chain):
    """A pack refused at the door goes back into its sender's custody through the platform's take-back; then only
    the sender holds it: the recipient can no longer receive it, and the sender may ship it again."""
    code = cn20(chain.pack.product_id)
    chain.ok("maker", E(T.COMMISSION, code), E(T.SHIP, code, to_org_id=chain.distributor.id))
    assert refused(chain.run("hospital", E(T.RECEIVE, code))) == [(0, "not_shipped_to_you")]  # a third party
    # A plain receive by the sender (as any client may send) is refused: only the platform's take-back, after the
    # recipient refused the pack on a shipment, brings it back.
    assert refused(chain.run("maker", E(T.RECEIVE, code))) == [(0, "not_shipped_to_you")]
    chain.ok("maker", E(T.RECEIVE, code, take_back=True))
    pack = item(chain, code)
    assert (pack.status, pack.custodian_org_id, pack.pending_org_id) == ("active", chain.maker.id, None)
    event = chain.db.exec(sa.select(TraceEvent).where(TraceEvent.item_id == pack.id).order_by(TraceEvent.id.desc()))
    assert event.scalars().first().details == {"returned_undelivered_from": chain.distributor.id}
    assert refused(chain.run("distributor", E(T.RECEIVE, code))) == [(0, "not_shipped_to_you")]
    assert refused(chain.run("maker", E(T.RECEIVE, code, take_back=True))) == [(0, "not_shipped_to_you")]  # held
    chain.ok("maker", E(T.SHIP, code, to_org_id=chain.distributor.id))
    chain.ok("distributor", E(T.RECEIVE, code))
    chain.db.expire_all()
    assert item(chain, code).custodian_org_id == chain.distributor.id


def test_one_batch_sees_its_own_earlier_dispensings(chain):
    """A batch's later events are judged with its earlier ones applied: a pack sold twice in one batch is a
    duplicate sale, a split pack sold to two patients in one batch is flagged, and a dispensing cannot be undone in
    the batch that made it (its event is not stored yet; leaving it out is the way)."""
    whole = chain.delivered(cn20(chain.pack.product_id))
    assert refused(chain.run("hospital", E(T.DISPENSE, whole, patient_ref="p1"),
                             E(T.DISPENSE, whole, patient_ref="p2"))) == [(1, "duplicate_sale")]  # fmt: skip
    chain.ok("hospital", E(T.DISPENSE, whole, patient_ref="p1"))
    # The reviewer's batch: undo the stored sale, sell again, undo that, sell a third time — two sales in force.
    swap = chain.run("hospital", E(T.UNDO, whole), E(T.DISPENSE, whole, patient_ref="p2"), E(T.UNDO, whole),
                     E(T.DISPENSE, whole, patient_ref="p3"))  # fmt: skip
    assert refused(swap) == [(2, "undo_in_batch"), (3, "duplicate_sale")]
    assert item(chain, whole).status == "dispensed"
    split = chain.delivered(cn20(chain.pack.product_id))
    chain.ok("hospital", E(T.DISPENSE, split, quantity=7, patient_ref="p1"),
             E(T.DISPENSE, split, quantity=7, patient_ref="p2"))  # fmt: skip
    assert rules.SAME_CODE_TWO_PATIENTS in alert_codes(chain)
    assert item(chain, split).dispensed_units == 14
    over = chain.delivered(cn20(chain.pack.product_id))
    assert refused(chain.run("hospital", E(T.DISPENSE, over, quantity=20, patient_ref="p1"),
                             E(T.DISPENSE, over, quantity=20, patient_ref="p1"))) == [(1, "over_dispense")]  # fmt: skip


def test_an_undo_cannot_be_backdated_into_its_window(chain):
    code = chain.delivered(cn20(chain.pack.product_id))
    now = utcnow()
    chain.ok("hospital", E(T.DISPENSE, code, at=now - dt.timedelta(days=20)), now=now)
    late = E(T.UNDO, code, at=now - dt.timedelta(days=15))  # five days after the sale, claims the client
    assert refused(chain.run("hospital", late, now=now)) == [(0, "undo_window_passed")]
