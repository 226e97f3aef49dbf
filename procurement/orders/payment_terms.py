"""When a receipt must be paid: the tender's payment terms, or the platform's (rulebook 1.9.4, both [U])."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.errors import invalid
from procurement.orders.models import OrderLine
from procurement.orders.rules import DAYS_FROM_ACCEPTANCE, END_OF_FOLLOWING_MONTH, ORDER_RULES, PAYMENT_RULES
from procurement.tenders.models import Award, Tender


def check_terms(terms: dict[str, Any]) -> dict[str, Any]:
    """Validate a tender's payment terms: ``{"rule": "days_from_acceptance", "days": 30}`` or end of next month."""
    rule = terms.get("rule")
    if rule not in PAYMENT_RULES:
        raise invalid("payment_terms.rule", f"must be one of {', '.join(PAYMENT_RULES)}")
    if rule == DAYS_FROM_ACCEPTANCE:
        days = terms.get("days")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise invalid("payment_terms.days", "a whole number of days from 1 to 365")
        return {"rule": rule, "days": days}
    return {"rule": rule}


def default_terms() -> dict[str, Any]:
    """Return the platform's payment terms from the order rules."""
    terms = {"rule": ORDER_RULES["payment_rule"]}
    if terms["rule"] == DAYS_FROM_ACCEPTANCE:
        terms["days"] = ORDER_RULES["payment_days"]
    return terms


def terms_for_order(session: Session, order_id: int) -> dict[str, Any]:
    """Return the payment terms governing an order: those of the tender of its awarded lines, else the default."""
    stmt = (
        sa.select(Tender.payment_terms, Tender.id)
        .join(Award, Award.tender_id == Tender.id)
        .join(OrderLine, OrderLine.award_id == Award.id)
        .where(OrderLine.order_id == order_id)
        .order_by(OrderLine.line_no)
    )
    for terms, tender_id in session.exec(stmt).all():
        if terms:
            return {**terms, "source": f"tender {tender_id}"}
    return {**default_terms(), "source": f"{ORDER_RULES.name} {ORDER_RULES.version}"}


def due_date(accepted_on: dt.date, terms: dict[str, Any]) -> dt.date:
    """Return the last day for payment of goods accepted on ``accepted_on``."""
    if terms["rule"] == END_OF_FOLLOWING_MONTH:
        year, month = (
            (accepted_on.year + 1, 1) if accepted_on.month == 12 else (accepted_on.year, accepted_on.month + 1)
        )
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    return accepted_on + dt.timedelta(days=terms["days"])
