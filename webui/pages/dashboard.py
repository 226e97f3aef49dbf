"""The auditors' dashboard: does volume-based procurement work, and where does money leak?

Each section is a chart over a table of the rows behind it: a bar (or a table row) links to the page listing those
rows, and every table downloads as Excel. Sections read the same services as their own pages, for the period chosen.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import abort, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlmodel import Session
from wtforms import DateField
from wtforms.validators import Optional

from core.actor import Actor
from core.alert_review import alert_counts
from core.alerts import Alert
from core.roles import OrgKind
from procurement.orders import online_share, payments, progress
from procurement.spreadsheets import SheetOut, workbook_bytes
from webui.db import get_db
from webui.pages.agreements_pages import china_today
from webui.pages.alert_forms import SOURCES, STATUSES
from webui.pages.audits import REVIEWERS, bp
from webui.pages.catalogue_views import xlsx_download
from webui.pages.common import all_organisations, role_required
from webui.pages.money_labels import product_kind_label

TOP_N = 10
MONITORING_ALERTS_READ = 20_000


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    start = DateField(_l("From"), [Optional()])
    end = DateField(_l("To"), [Optional()])


@dataclass
class Section:
    key: str
    title: str
    note: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)  # one per row: the page listing the rows behind it
    chart: dict[str, Any] | None = None


def _pct(value: Any) -> float | None:
    return None if value is None else round(float(value) * 100, 2)


def _fmt_pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def _completion(session: Session, actor: Actor, start: dt.date, end: dt.date) -> Section:
    rows = progress.agreement_progress(session, actor=actor, on=end)
    section = Section(
        "completion",
        _("VBP completion by hospital and lot, against time"),
        _("Share of each agreed volume received against the share of the agreement year elapsed (rulebook 1.7.5)."),
        [_("Hospital"), _("Lot"), _("Generic name"), _("Agreed"), _("Received"), _("Completion"), _("Time progress"),
         _("Status")],
    )  # fmt: skip
    for r in rows:
        section.rows.append([r.hospital_name, r.lot_number, r.generic_name, r.agreed_volume, float(r.received_units),
                             _fmt_pct(r.completion), _fmt_pct(r.time_progress), str(r.status)])  # fmt: skip
        section.links.append(url_for("agreement_pages.progress_page", hospital=r.hospital_id, tender=r.tender_id))
    section.chart = {
        "kind": "bars",
        "labels": [f"{r.hospital_name} · {r.generic_name}" for r in rows],
        "series": [
            {"name": _("Completion"), "values": [_pct(r.completion) for r in rows]},
            {"name": _("Time progress"), "values": [_pct(r.time_progress) for r in rows], "marker": True},
        ],
        "axis": _("Per cent"),
    }
    return section


def _hospitals(session: Session, actor: Actor) -> list[tuple[int, str]]:
    return [(o.id, o.name) for o in all_organisations(session, actor=actor) if o.kind == OrgKind.HOSPITAL]


def _on_time(session: Session, actor: Actor, start: dt.date, end: dt.date) -> Section:
    section = Section(
        "on_time",
        _("On-time payment rate"),
        _("Receipts due in the period paid by their due date, by count and by amount (rulebook 1.9.4)."),
        [_("Hospital"), _("Due"), _("On time"), _("Rate by count"), _("Rate by amount")],
    )
    names, by_count, by_amount = [], [], []
    for hospital_id, name in _hospitals(session, actor):
        rate = payments.on_time_rate(session, hospital_id=hospital_id, start=start, end=end, actor=actor, today=end)
        if not rate["due_count"]:
            continue
        section.rows.append([name, rate["due_count"], rate["on_time_count"], _fmt_pct(rate["count_rate"]),
                             _fmt_pct(rate["amount_rate"])])  # fmt: skip
        section.links.append(url_for("money_pages.payables", hospital=hospital_id, start=start, end=end))
        names.append(name)
        by_count.append(_pct(rate["count_rate"]))
        by_amount.append(_pct(rate["amount_rate"]))
    section.chart = {
        "kind": "bars",
        "labels": names,
        "series": [
            {"name": _("Rate by count"), "values": by_count},
            {"name": _("Rate by amount"), "values": by_amount},
        ],
        "axis": _("Per cent"),
    }
    return section


def _online(session: Session, actor: Actor, start: dt.date, end: dt.date) -> Section:
    rows = online_share.online_share(session, actor=actor, start=start, end=end)
    section = Section(
        "online_share",
        _("Online-purchase share against the targets"),
        _("Platform purchases as a share of all purchases by amount; targets 95% for drugs, 85% for consumables "
          "(rulebook 0.2)."),
        [_("Hospital"), _("Kind"), _("On the platform"), _("Off the platform"), _("Share"), _("Target")],
    )  # fmt: skip
    series: dict[str, dict[str, Any]] = {}
    hospitals = list(dict.fromkeys(r.hospital_name for r in rows))
    for r in rows:
        section.rows.append([r.hospital_name, product_kind_label(r.kind), float(r.platform_amount),
                             float(r.offline_amount), _fmt_pct(r.share), _fmt_pct(r.target)])  # fmt: skip
        section.links.append(url_for("agreement_pages.online_share_page", hospital=r.hospital_id, start=start, end=end))
        entry = series.setdefault(r.kind, {"name": product_kind_label(r.kind), "values": [None] * len(hospitals),
                                           "target": _pct(r.target)})  # fmt: skip
        entry["values"][hospitals.index(r.hospital_name)] = _pct(r.share)
    section.chart = {"kind": "bars", "labels": hospitals, "series": list(series.values()), "axis": _("Per cent")}
    return section


def _alerts(session: Session, actor: Actor, start: dt.date, end: dt.date) -> Section:
    counts = alert_counts(session, actor)
    section = Section(
        "alerts",
        _("Alerts by kind and status"),
        _("Every flag from every source, open and reviewed."),
        [_("Source"), _("Code"), _("Status"), _("Alerts")],
    )
    for row in sorted(counts, key=lambda r: (r["source"], r["code"], r["status"])):
        section.rows.append([str(SOURCES.get(row["source"], row["source"])), row["code"],
                             str(STATUSES.get(row["status"], row["status"])), row["count"]])  # fmt: skip
        section.links.append(url_for("alert_pages.queue", source=row["source"], status=row["status"], code=row["code"]))
    sources = sorted({row["source"] for row in counts})
    series = []
    for status, label in STATUSES.items():
        totals = Counter()
        for row in counts:
            if row["status"] == status:
                totals[row["source"]] += row["count"]
        series.append({"name": str(label), "values": [totals.get(s, 0) for s in sources], "key": status})
    section.chart = {
        "kind": "stacked",
        "labels": [str(SOURCES.get(s, s)) for s in sources],
        "series": series,
        "axis": _("Alerts"),
        "links": [[url_for("alert_pages.queue", source=s, status=entry["key"]) for s in sources] for entry in series],
    }
    return section


def _anomalous(session: Session, actor: Actor, start: dt.date, end: dt.date) -> Section:
    """Physicians and products most often flagged by prescribing monitoring, from its alerts' evidence."""
    since = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    stmt = (
        sa.select(Alert.evidence, Alert.code)
        .where(Alert.source == "monitoring", Alert.created_at >= since)
        .limit(MONITORING_ALERTS_READ)
    )
    physicians: Counter[Any] = Counter()
    products: Counter[Any] = Counter()
    codes: dict[tuple[str, Any], set[str]] = defaultdict(set)
    for evidence, code in session.exec(stmt).all():
        for key, counter in (("physician_id", physicians), ("product_id", products)):
            value = (evidence or {}).get(key)
            if value is not None:
                counter[value] += 1
                codes[(key, value)].add(code)
    section = Section(
        "anomalous",
        _("Top anomalous physicians and products"),
        _("Who and what prescribing monitoring flags most often (rulebook 7)."),
        [_("Kind"), _("Identifier"), _("Alerts"), _("Rules")],
    )
    labels, values = [], []
    for key, counter, label in (("physician_id", physicians, _("Physician")), ("product_id", products, _("Product"))):
        for ident, count in counter.most_common(TOP_N):
            section.rows.append([label, ident, count, ", ".join(sorted(codes[(key, ident)]))])
            section.links.append(url_for("alert_pages.queue", source="monitoring"))
            labels.append(f"{label} {ident}")
            values.append(count)
    section.chart = {"kind": "bars", "labels": labels, "series": [{"name": _("Alerts"), "values": values}],
                     "axis": _("Alerts")}  # fmt: skip
    return section


SECTIONS: dict[str, Callable[[Session, Actor, dt.date, dt.date], Section]] = {
    "completion": _completion,
    "on_time": _on_time,
    "online_share": _online,
    "alerts": _alerts,
    "anomalous": _anomalous,
}


def _period() -> tuple[PeriodForm, dt.date, dt.date]:
    today = china_today()
    form = PeriodForm(formdata=request.args)
    start, end = today.replace(month=1, day=1), today
    if form.validate():
        start, end = form.start.data or start, form.end.data or end
    if end < start:
        start, end = end, start
    return form, start, end


@bp.route("/dashboard", methods=["GET"])
@role_required(*REVIEWERS)
def dashboard():
    """Every section for the period chosen (this year so far by default)."""
    form, start, end = _period()
    session, actor = get_db(), g.actor
    sections = [build(session, actor, start, end) for build in SECTIONS.values()]
    return render_template("pages/audits/dashboard.html", form=form, sections=sections, start=start, end=end)


@bp.route("/dashboard/<key>.xlsx", methods=["GET"])
@role_required(*REVIEWERS)
def dashboard_export(key: str):
    """One section's table as an Excel workbook."""
    if key not in SECTIONS:
        abort(404)
    _form, start, end = _period()
    section = SECTIONS[key](get_db(), g.actor, start, end)
    data = workbook_bytes([SheetOut(section.title[:31], section.header, section.rows)])
    return xlsx_download(data, f"{key}-{start.isoformat()}-{end.isoformat()}.xlsx")
