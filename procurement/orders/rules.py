"""The order-to-payment rules as a versioned parameter set (rulebook 0.2, 1.7.5, 1.9, 4, 8.3)."""

from __future__ import annotations

from decimal import Decimal

from core.alerts import Severity
from core.params import parameter_set

DAYS_FROM_ACCEPTANCE = "days_from_acceptance"  # 从交货验收合格到付款不超过30天
END_OF_FOLLOWING_MONTH = "end_of_following_month"  # 不得超过交货验收合格后次月底
PAYMENT_RULES = (DAYS_FROM_ACCEPTANCE, END_OF_FOLLOWING_MONTH)

# Stable alert codes raised by orders and supply.
PROGRESS_BEHIND = "ORDERS-PROGRESS-BEHIND-TIME"
PAYMENT_OVERDUE = "ORDERS-PAYMENT-OVERDUE"
SUPPLY_REPORT_MISSING = "SUPPLY-REPORT-MISSING"
SUPPLY_REPORT_LATE = "SUPPLY-REPORT-LATE"
SUPPLY_STOCK_OUT = "SUPPLY-STOCK-OUT-OPEN-ORDERS"
SUPPLY_STOP_LATE_NOTICE = "SUPPLY-STOP-LATE-NOTICE"
SUPPLY_PROBLEM = "SUPPLY-PROBLEM-REPORTED"
INVOICE_MISMATCH = "ORDERS-INVOICE-SHIPMENT-MISMATCH"

ORDER_RULES = parameter_set(
    "orders.rules",
    "2026-06",
    ("0.2", "1.7.1", "1.7.5", "1.9.2", "1.9.4", "4.1", "8.3", "8.5"),
    note=(
        "Both payment deadlines of 1.9.4 are [U]; a tender's payment_terms choose one. The 80 per cent warning "
        "share of 1.7.5 is practitioner tooling, not regulation. The report deadline is the national 10th (8.3); "
        "a province may set the 15th (1.8.2). The notice periods of 8.5 are [U]."
    ),
    payment_rule=DAYS_FROM_ACCEPTANCE,
    payment_days=30,
    progress_warning_share=Decimal("0.80"),
    # 0.2: the 2025 online-purchase share targets, by amount (Xiamen indicators; drugs 95 %, consumables 85 %).
    online_share_targets={"drug": Decimal("0.95"), "consumable": Decimal("0.85")},
    prepayment_min_share=Decimal("0.30"),
    report_due_day=10,
    stop_notice_days_planned=180,
    stop_notice_days_unplanned=3,
    # China's VAT rates in force for goods and services (13 %, 9 %, 6 %) and the simplified rates (3 %, 1 %, 0).
    vat_rates=(Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), Decimal("0.03"), Decimal("0.01"), Decimal("0")),
    # Tax is computed per line and rounded to the fen; a line may differ from amount × rate by this much.
    tax_tolerance=Decimal("0.01"),
    # A shipment's receipts (order prices, tax included) and its second invoices (tax per line, to the fen) may
    # differ by rounding: second invoices billing every pack not refused are the debt, whatever their total; those
    # billing part of the shipment are the same debt as its receipts within this much, plus half a fen a pack billed
    # (the most a price excluding tax, rounded per pack, may add; the invoice's price check allows as much).
    settlement_rounding=Decimal("0.05"),
    settlement_rounding_per_pack=Decimal("0.005"),
    severities={
        PROGRESS_BEHIND: Severity.MEDIUM.value,
        PAYMENT_OVERDUE: Severity.MEDIUM.value,
        SUPPLY_REPORT_MISSING: Severity.HIGH.value,
        SUPPLY_REPORT_LATE: Severity.LOW.value,
        SUPPLY_STOCK_OUT: Severity.HIGH.value,
        SUPPLY_STOP_LATE_NOTICE: Severity.HIGH.value,
        SUPPLY_PROBLEM: Severity.MEDIUM.value,
        INVOICE_MISMATCH: Severity.HIGH.value,
    },
)
