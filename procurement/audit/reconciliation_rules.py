"""The two-invoice reconciliation rules as a versioned parameter set (rulebook 4), checked before every run."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.alerts import Severity
from core.errors import INVALID, DomainError
from core.params import ParameterSet, parameter_set

SOURCE = "reconciliation"

# Stable alert codes; a violation row and its alert carry the same code.
CHAIN_TOO_LONG = "RECON-CHAIN-TOO-LONG"
FIRST_SELLER = "RECON-FIRST-SELLER-NOT-MANUFACTURER"
PARTY_MISMATCH = "RECON-PARTY-MISMATCH"
BATCH_MISMATCH = "RECON-BATCH-MISMATCH"
QTY_MISMATCH = "RECON-QTY-MISMATCH"
PRICE_MISMATCH = "RECON-PRICE-MISMATCH"
PRICE_ABOVE_AWARD = "RECON-PRICE-ABOVE-AWARD"
GOODS_WITHOUT_INVOICE = "RECON-GOODS-WITHOUT-INVOICE"
INVOICE_WITHOUT_GOODS = "RECON-INVOICE-WITHOUT-GOODS"
PAYMENT_WITHOUT_INVOICE = "RECON-PAYMENT-WITHOUT-INVOICE"

CODES = (
    CHAIN_TOO_LONG,
    FIRST_SELLER,
    PARTY_MISMATCH,
    BATCH_MISMATCH,
    QTY_MISMATCH,
    PRICE_MISMATCH,
    PRICE_ABOVE_AWARD,
    GOODS_WITHOUT_INVOICE,
    INVOICE_WITHOUT_GOODS,
    PAYMENT_WITHOUT_INVOICE,
)

RECONCILIATION_RULES = parameter_set(
    "audit.reconciliation",
    "2017-01",
    ("4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.8"),
    note=(
        "4.1: at most two invoices between manufacturer and hospital; 4.4: one more where the hospital's region is "
        "on the remote-area list; 4.3: a transfer inside a distribution group is not counted, at most one such "
        "invoice. The tolerances and the grace period before missing invoices or goods count are practitioner "
        "choices ([U]), not regulation."
    ),
    max_invoices=2,  # 4.1
    remote_extra_invoices=1,  # 4.4: "may issue one more invoice"
    group_transfer_invoices=1,  # 4.3: "at most one such extra invoice"
    # Per pack, tax included, in yuan: a price within this of the award or the order is the same price (fen rounding).
    price_tolerance=Decimal("0.01"),
    # Packs: invoiced and received counts may differ by this much before they disagree (票货一致, 4.5–4.6).
    quantity_tolerance=0,
    # Days a receipt may wait for its second invoice, and an invoice for its goods, before either is missing.
    invoice_grace_days=30,
    severities={
        CHAIN_TOO_LONG: Severity.HIGH.value,
        FIRST_SELLER: Severity.HIGH.value,
        PARTY_MISMATCH: Severity.HIGH.value,
        BATCH_MISMATCH: Severity.MEDIUM.value,
        QTY_MISMATCH: Severity.MEDIUM.value,
        PRICE_MISMATCH: Severity.MEDIUM.value,
        PRICE_ABOVE_AWARD: Severity.HIGH.value,
        GOODS_WITHOUT_INVOICE: Severity.MEDIUM.value,
        INVOICE_WITHOUT_GOODS: Severity.HIGH.value,
        PAYMENT_WITHOUT_INVOICE: Severity.HIGH.value,
    },
)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_rules(rules: ParameterSet) -> ParameterSet:
    """Return ``rules`` if they are consistent; refuse them with every problem named otherwise."""
    problems: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    if not _whole(rules["max_invoices"]) or rules["max_invoices"] < 1:
        bad("max_invoices", "a whole number of invoices, at least 1 (rulebook 4.1: 2)")
    if not _whole(rules["remote_extra_invoices"]) or not 0 <= rules["remote_extra_invoices"] <= 1:
        bad("remote_extra_invoices", "0 or 1: a remote area allows one more invoice at most (rulebook 4.4)")
    if not _whole(rules["group_transfer_invoices"]) or not 0 <= rules["group_transfer_invoices"] <= 1:
        bad("group_transfer_invoices", "0 or 1: at most one transfer inside a group goes uncounted (rulebook 4.3)")
    for name in ("price_tolerance",):
        value = rules[name]
        if not isinstance(value, Decimal) or value < 0 or value >= 1:
            bad(name, "a Decimal amount in yuan, at least 0 and below 1")
    if not _whole(rules["quantity_tolerance"]) or rules["quantity_tolerance"] < 0:
        bad("quantity_tolerance", "a whole number of packs, at least 0")
    if not _whole(rules["invoice_grace_days"]) or not 0 <= rules["invoice_grace_days"] <= 366:
        bad("invoice_grace_days", "a whole number of days between 0 and 366")
    severities = rules["severities"]
    missing = [code for code in CODES if code not in severities]
    if missing:
        bad("severities", f"no severity for {', '.join(missing)}")
    wrong = [code for code, value in severities.items() if value not in {s.value for s in Severity}]
    if wrong:
        bad("severities", f"unknown severity for {', '.join(sorted(wrong))}")
    if problems:
        first = next(iter(problems.items()))
        message = f"parameter set {rules.name} {rules.version} is inconsistent: {first[0]}: {first[1][0]}"
        raise DomainError(INVALID, message, code="bad_parameter_set", errors=problems)
    return rules


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def describe(rules: ParameterSet) -> dict[str, Any]:
    """Return the parameter set as JSON (amounts as strings), stored with every result so it can be explained."""
    return _plain(rules.describe())
