"""The traceability rules as a versioned parameter set, and the alert codes they raise (rulebook 5.6.7)."""

from __future__ import annotations

from core.alerts import Severity
from core.params import parameter_set

# Stable alert codes: R1–R7 of rulebook 5.6.7 (R4, settlement lines without a code, belongs to prescription imports).
DUPLICATE_SALE = "TRACE-R1-DUPLICATE-SALE"
TWO_INSTITUTIONS = "TRACE-R2-SOLD-BY-TWO-INSTITUTIONS"
SPLIT_OVER_DISPENSE = "TRACE-R3-SPLIT-PACK-OVER-DISPENSE"
PRODUCT_MISMATCH = "TRACE-R5-CODE-PRODUCT-MISMATCH"
CHAIN_BREAK = "TRACE-R6-CHAIN-BREAK"
SAME_CODE_TWO_PATIENTS = "TRACE-R7-SAME-CODE-TWO-PATIENTS"
RECALLED_DISPENSE = "TRACE-RECALLED-PACK-DISPENSE"

TRACE_RULES = parameter_set(
    "trace.rules",
    "2025-07",
    ("5.6.2", "5.6.7", "5.4.4", "0.7"),
    note="R1 is official (one box, one sale record); R2, R3, R5–R7 are derived and configurable.",
    severities={
        DUPLICATE_SALE: Severity.HIGH.value,
        TWO_INSTITUTIONS: Severity.CRITICAL.value,
        SPLIT_OVER_DISPENSE: Severity.MEDIUM.value,
        PRODUCT_MISMATCH: Severity.HIGH.value,
        CHAIN_BREAK: Severity.HIGH.value,
        SAME_CODE_TWO_PATIENTS: Severity.MEDIUM.value,
        RECALLED_DISPENSE: Severity.CRITICAL.value,
    },
    # R2: a second sale by another institution within this many days raises the severity to critical; later, high.
    two_institutions_close_days=30,
    # R7: a split pack (拆零) dispensed to a second patient is flagged but accepted (ward dispensing splits packs).
    split_pack_second_patient="alert",
    # EU FMD lets the same location undo a verification within 10 days; the window is a parameter here.
    undo_window_days=10,
    # Clock skew tolerated for event times reported by clients.
    future_skew_seconds=300,
)
