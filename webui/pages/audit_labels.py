"""Labels of audit-run and part statuses, in the reader's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from webui.pages.labels import lookup_label

RUN_STATUS = {
    "queued": _l("Queued"),
    "running": _l("Running"),
    "done": _l("Done"),
    "failed": _l("Failed"),
    "pending": _l("Waiting"),
    "interrupted": _l("Interrupted"),
    "not_run": _l("Not run"),
}
FILTERS = ("run_status_label",)


def run_status_label(value: str | None) -> str:
    return lookup_label(RUN_STATUS, value)
