"""PostgreSQL-only: bids take turns with the opening on the tender row, and with each other on the lot row.

Without the tender's row lock, a bid that read the tender as open for bidding just before the opening read the bids
was stored after it, sealed for ever, and evaluation then failed. Without the lot's row lock, the holder and the
contract maker of one product (rulebook 1.1.5) bidding at once both passed the check, and a retry racing its first
attempt failed on the unique constraint instead of answering with the first bid.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.db import new_session
from core.errors import DomainError
from procurement.tenders import bidding, opening
from procurement.tenders.models import Bid, BidStatus
from tests.factories import Factory
from tests.procurement.tender_world import AFTER, PASSPHRASE, T0, build_world

pytestmark = pytest.mark.postgres_only

DAY1 = T0 + dt.timedelta(days=1)


@pytest.fixture
def bidding_open(committed_pg):
    _, engine = committed_pg("bids_concurrency")
    with new_session(engine) as session:
        world = build_world(session, Factory(session))
        tender, lot = world.tender()
        world.to_bidding(tender, lot)
        world.products[0].mah_id = world.makers[1].org_id  # makers[0] makes products[0] for makers[1] (委托生产)
        session.commit()
        ids = (tender.id, lot.id, [product.id for product in world.products])
    return engine, world, *ids


def _submit(engine, world, tender_id, lot_id, maker: int, product_id: int, price: str, key: str | None = None):
    with new_session(engine) as session:
        try:
            bid, created = bidding.submit_bid(
                session, tender_id=tender_id, lot_id=lot_id, actor=world.makers[maker], product_id=product_id,
                price=Decimal(price), signing_key=world.key, idempotency_key=key, now=DAY1,
            )  # fmt: skip
            session.commit()
            return ("ok", bid.id, created)
        except DomainError as exc:
            session.rollback()
            return ("refused", exc.code, None)
        except Exception as exc:  # a crash (the unique constraint) is what the test looks for
            session.rollback()
            return ("crashed", type(exc).__name__, None)


def _at_once(calls: list) -> list:
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        outcomes[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _wait_until_someone_waits_on_a_lock(engine, seconds: float = 10) -> None:
    stmt = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + seconds
    with engine.connect() as conn:
        while time.monotonic() < deadline and not conn.execute(stmt).scalar_one():
            conn.rollback()
            time.sleep(0.02)


def test_a_bid_racing_the_opening_is_refused_not_left_sealed(bidding_open):
    engine, world, tender_id, lot_id, products = bidding_open
    assert _submit(engine, world, tender_id, lot_id, 2, products[2], "16.0000")[0] == "ok"
    outcome: list = []
    with new_session(engine) as opener:
        opening.open_tender(opener, tender_id=tender_id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER)
        # The opening holds the tender and has read the bids; a bid arriving now must not be stored behind it.
        late = threading.Thread(
            target=lambda: outcome.append(_submit(engine, world, tender_id, lot_id, 3, products[3], "15.0000"))
        )
        late.start()
        _wait_until_someone_waits_on_a_lock(engine)
        opener.commit()
    late.join(timeout=60)
    assert outcome == [("refused", "tender_status", None)]
    with new_session(engine) as session:
        statuses = session.exec(sa.select(Bid.status).where(Bid.tender_id == tender_id)).scalars().all()
        assert statuses == [BidStatus.OPENED.value]
        opening.evaluate_tender(session, tender_id=tender_id, actor=world.organiser, now=AFTER)


def test_an_opening_racing_a_bid_waits_for_it_and_opens_it(bidding_open):
    engine, world, tender_id, lot_id, products = bidding_open
    opened: list = []
    with new_session(engine) as bidder:
        bid, _ = bidding.submit_bid(
            bidder, tender_id=tender_id, lot_id=lot_id, actor=world.makers[2], product_id=products[2],
            price=Decimal("16.0000"), signing_key=world.key, now=DAY1,
        )  # fmt: skip
        bid_id = bid.id

        def open_now() -> None:
            with new_session(engine) as opener:
                bids = opening.open_tender(
                    opener, tender_id=tender_id, actor=world.organiser, passphrase=PASSPHRASE, now=AFTER
                )
                opener.commit()
                opened.extend(b.id for b in bids)

        thread = threading.Thread(target=open_now)
        thread.start()
        _wait_until_someone_waits_on_a_lock(engine)  # the bid's FOR SHARE holds the opening's FOR UPDATE off
        bidder.commit()
    thread.join(timeout=60)
    assert opened == [bid_id]


def test_holder_and_contract_maker_bidding_one_product_at_once_store_one_bid(bidding_open):
    engine, world, tender_id, lot_id, products = bidding_open
    outcomes = _at_once(
        [
            lambda maker=maker: _submit(engine, world, tender_id, lot_id, maker, products[0], "14.0000")
            for maker in (0, 1)
        ]
    )
    assert sorted(kind for kind, _, _ in outcomes) == ["ok", "refused"], outcomes
    assert [code for kind, code, _ in outcomes if kind == "refused"] == ["product_already_bid"]
    with new_session(engine) as session:
        assert len(session.exec(sa.select(Bid.id).where(Bid.lot_id == lot_id)).all()) == 1


def test_a_retry_racing_its_first_attempt_answers_with_the_first_bid(bidding_open):
    engine, world, tender_id, lot_id, products = bidding_open
    outcomes = _at_once(
        [lambda: _submit(engine, world, tender_id, lot_id, 2, products[2], "16.0000", key="bid-race-1")] * 4
    )
    assert {kind for kind, _, _ in outcomes} == {"ok"}, outcomes
    assert len({bid_id for _, bid_id, _ in outcomes}) == 1 and sum(created for _, _, created in outcomes) == 1
