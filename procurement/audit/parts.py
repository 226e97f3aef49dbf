"""What every audit computation returns to the run that called it (``POST /api/v1/audits/runs``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# progress(done, total): called by long computations so a run can report how far it has got.
Progress = Callable[[int, int], None]


@dataclass
class PartSummary:
    """One part of an audit run: how many source rows it read, what it found, and which alerts it raised.

    ``rows == 0`` means the period had no data for this part, which the run reports as such rather than as "all clear".
    """

    part: str
    start: dt.date
    end: dt.date
    rows: int = 0
    findings: int = 0
    alerts_raised: int = 0
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def no_data(self) -> bool:
        return self.rows == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "findings": self.findings,
            "alerts_raised": self.alerts_raised,
            "no_data": self.no_data,
            "notes": list(self.notes),
            "figures": dict(self.figures),
        }
