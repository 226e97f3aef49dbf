"""The tender lifecycle: the permitted transitions only, each named in the error when refused."""

from __future__ import annotations

from core.errors import CONFLICT, DomainError
from procurement.tenders.models import Tender, TenderStatus

S = TenderStatus

# draft → demand collection → bidding → opened → evaluated → awarded → in force → closed. Evaluation may run again
# while evaluated (a revival round); nothing goes backwards.
TRANSITIONS: dict[TenderStatus, frozenset[TenderStatus]] = {
    S.DRAFT: frozenset({S.DEMAND_COLLECTION}),
    S.DEMAND_COLLECTION: frozenset({S.BIDDING}),
    S.BIDDING: frozenset({S.OPENED}),
    S.OPENED: frozenset({S.EVALUATED}),
    S.EVALUATED: frozenset({S.EVALUATED, S.AWARDED}),
    S.AWARDED: frozenset({S.IN_FORCE}),
    S.IN_FORCE: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}


def require_status(tender: Tender, *allowed: TenderStatus, action: str) -> None:
    """Refuse an action the tender's current status does not allow."""
    if TenderStatus(tender.status) not in allowed:
        wanted = " or ".join(s.value for s in allowed)
        raise DomainError(
            CONFLICT,
            f"cannot {action}: tender {tender.id} is {tender.status}, it must be {wanted}",
            code="tender_status",
            errors={"status": [f"is {tender.status}; {action} needs {wanted}"]},
        )


def move(tender: Tender, target: TenderStatus) -> TenderStatus:
    """Move a tender to ``target`` if the lifecycle permits it; return the status it left."""
    current = check_move(tender, target)
    tender.status = target.value
    return current


def check_move(tender: Tender, target: TenderStatus) -> TenderStatus:
    """Refuse a transition the lifecycle does not permit; return the current status."""
    current = TenderStatus(tender.status)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing (closed)"
        raise DomainError(
            CONFLICT,
            f"tender {tender.id} cannot go from {current.value} to {target.value}; next may be: {allowed}",
            code="transition_not_permitted",
            errors={"status": [f"{current.value} → {target.value} is not permitted"]},
        )
    return current
