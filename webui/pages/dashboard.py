"""The auditors' dashboard: does volume-based procurement work, and where does money leak?

Each section is a chart over a table of the rows behind it: a bar (or a table row) links to the page listing those
rows, and every table downloads as Excel. Sections read the same services as their own pages, for the period chosen.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
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
from core.alert_review import AlertFilter, alert_counts
from core.models import Organisation
from core.roles import OrgKind
from procurement.ocds_codes import CHINA_TIME
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


def _moment(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=CHINA_TIME)


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
        _("Platform purchases as a share of all purchases by amount; targets: drugs 95 %, consumables 85 % "
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
                                           "links": [None] * len(hospitals), "target": _pct(r.target)})  # fmt: skip
        at = hospitals.index(r.hospital_name)
        entry["values"][at], entry["links"][at] = _pct(r.share), section.links[-1]
    section.chart = {
        "kind": "bars",
        "labels": hospitals,
        "series": list(series.values()),
        "axis": _("Per cent"),
        "links": [entry.pop("links") for entry in series.values()],  # one per series and hospital
    }
    return section


def _alerts(session: Session, actor: Actor, start: dt.date, end: dt.date) -> Section:
    since, until = _moment(start), _moment(end + dt.timedelta(days=1))
    counts = alert_counts(session, actor, AlertFilter(since=since, until=until))
    period = {"since": start.isoformat(), "until": (end + dt.timedelta(days=1)).isoformat()}
    section = Section(
        "alerts",
        _("Alerts by kind and status"),
        _("Every flag from every source raised in the period, open and reviewed."),
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
        "links": [
            [url_for("alert_pages.queue", source=s, status=entry["key"], **period) for s in sources] for entry in series
        ],
    }
    return section


def _anomalous(session: Session, actor: Actor, start: dt.date, end: dt.date) -> Section:
    """Physicians and products behind the most (severity-weighted) open prescribing-monitoring alerts."""
    from procurement.audit.monitoring import top_anomalous

    top = top_anomalous(session, actor, n=TOP_N)
    names = _names(session, top)
    section = Section(
        "anomalous",
        _("Top anomalous physicians and products"),
        _(
            "Who and what prescribing monitoring flags most among open alerts of any date, weighted by severity "
            "(low 1 … critical 4; rulebook 7)."
        ),
        [_("Kind"), _("Name"), _("Hospital"), _("Alerts"), _("Score"), _("Rules")],
    )
    labels, values = [], []
    for kind, column, label in (("physicians", "physician_id", _("Physician")), ("products", "product_id",
                                                                                  _("Product"))):  # fmt: skip
        for row in top[kind]:
            name = names[column].get(row[column], str(row[column]))
            hospital = names["hospital_id"].get(row["hospital_id"], "")
            section.rows.append([label, name, hospital, row["findings"], row["score"], ", ".join(row["rules"])])
            which = {"physician": row[column]} if column == "physician_id" else {"product": row[column]}
            section.links.append(url_for("alert_pages.queue", source="monitoring", subject=row["hospital_id"], **which))
            labels.append(f"{label} · {name}")
            values.append(int(row["score"]))
    section.chart = {"kind": "bars", "labels": labels, "series": [{"name": _("Score"), "values": values}],
                     "axis": _("Severity-weighted alerts")}  # fmt: skip
    return section


def _names(session: Session, top: dict[str, list[dict[str, Any]]]) -> dict[str, dict[Any, str]]:
    """Return display names of the physicians, products and hospitals in the ranking."""
    from procurement.catalogue import Product

    rows = [*top["physicians"], *top["products"]]
    wanted = {column: {r[column] for r in rows if r.get(column) is not None}
              for column in ("physician_id", "product_id", "hospital_id")}  # fmt: skip
    names: dict[str, dict[Any, str]] = {column: {} for column in wanted}
    if wanted["product_id"]:
        stmt = sa.select(Product.id, Product.generic_name, Product.strength).where(Product.id.in_(wanted["product_id"]))
        names["product_id"] = {i: f"{name} {strength}" for i, name, strength in session.exec(stmt).all()}
    if wanted["hospital_id"]:
        stmt = sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted["hospital_id"]))
        names["hospital_id"] = dict(session.exec(stmt).all())
    names["physician_id"] = physician_names(session, wanted["physician_id"])
    return names


def physician_names(session: Session, ids: set[Any]) -> dict[Any, str]:
    """Return registered physicians' names (code and name) by id."""
    if not ids:
        return {}
    from procurement.audit.prescription_models import Physician

    stmt = sa.select(Physician.id, Physician.code, Physician.name).where(Physician.id.in_(ids))
    return {i: f"{name} ({code})" for i, code, name in session.exec(stmt).all()}


def _surplus(session: Session, actor: Actor, start: dt.date, end: dt.date) -> Section:
    """Money each hospital retains under surplus retention (final and provisional years), and the base not retained."""
    from procurement.audit.surplus import retained_by_hospital

    rows = retained_by_hospital(session, actor=actor)
    section = Section(
        "surplus",
        _("Surplus retained by hospital"),
        _("Retained insurance surplus per hospital from the latest computation (rulebook 3); provisional years are "
          "still running. Run the period's audit to bring it up to date."),
        [_("Hospital"), _("Retained (final years)"), _("Retained (provisional)"), _("Surplus base not retained")],
    )  # fmt: skip
    for r in rows:
        section.rows.append([r["hospital_name"], float(r["final"]), float(r["provisional"]), float(r["not_retained"])])
        section.links.append(url_for("surplus_pages.results", hospital=r["hospital_id"]))
    labels = [r["hospital_name"] for r in rows]
    section.chart = {
        "kind": "stacked",
        "labels": labels,
        "series": [
            {"name": _("Retained (final years)"), "values": [float(r["final"]) for r in rows]},
            {"name": _("Retained (provisional)"), "values": [float(r["provisional"]) for r in rows]},
            {"name": _("Surplus base not retained"), "values": [float(r["not_retained"]) for r in rows]},
        ],
        "axis": _("Yuan"),
    }
    return section


SECTIONS: dict[str, Callable[[Session, Actor, dt.date, dt.date], Section]] = {
    "completion": _completion,
    "on_time": _on_time,
    "online_share": _online,
    "surplus": _surplus,
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
