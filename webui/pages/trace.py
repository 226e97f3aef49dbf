"""Traceability pages: scan to verify at the counter, a pack's timeline with its proof, the ledger's status."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from core.accounts import get_organisation
from core.audit import record_audit
from core.db import utcnow
from core.errors import NOT_FOUND, DomainError
from core.roles import OrgKind, Role
from trace import ledger, verification
from trace.codes import InvalidCode, parse
from trace.epcis import export_item_epcis
from trace.items import get_item, may_read_item
from trace.models import Checkpoint, EventType, TradeItem
from trace.rules import TRACE_RULES
from trace.signing import key_id, public_pem
from webui.db import get_db
from webui.pages.common import role_required
from webui.pages.forms import ConfirmForm
from webui.pages.trace_labels import alert_label, scan_error_label, verdict_headline, verdict_reason
from webui.pages.trace_views import (
    ScanForm,
    log_rows,
    log_scan,
    printable,
    proof_state,
    prove_item,
    scan_actions,
    scan_log,
    timeline,
    verify_ledger,
)
from webui.trace_support import platform_key

bp = Blueprint("trace_pages", __name__, url_prefix="/trace")

SCAN_ROLES = (Role.PHARMACIST, Role.PHARMACY_MANAGER, Role.SUPPLIER_REP)  # the roles trace.verification.check allows
LEDGER_ROLES = (Role.AUDITOR, Role.ADMIN)  # re-verify the ledger and sign checkpoints, as the API allows


# ---------------------------------------------------------------- scan to verify


@dataclass
class VerdictView:
    allowed: bool
    code: str
    headline: str
    reason: str
    scanned: str
    detail: str | None = None  # the parser's own message for a bad scan
    alerts: list[dict[str, str]] = field(default_factory=list)
    pack: dict[str, Any] | None = None
    timeline_url: str | None = None


def _scan_form(*, fresh: bool = False) -> ScanForm:
    """Build the scan form with the purposes open to the user, the last purpose chosen preselected."""
    form = ScanForm(formdata=None) if fresh else ScanForm()
    form.action.choices = scan_actions(g.actor)
    offered = [value for value, _label in form.action.choices]
    if fresh or request.method == "GET":
        remembered = scan_log(g.actor)["action"]
        default = EventType.DISPENSE.value if g.actor.org_kind == OrgKind.HOSPITAL else EventType.RECEIVE.value
        form.action.data = remembered if remembered in offered else default
    return form


def _render_scan(form: ScanForm, *, verdict: VerdictView | None = None, status: int = 200):
    return render_template("pages/trace/scan.html", form=form, verdict=verdict, scans=log_rows(g.actor)), status


def _pack_facts(session, verdict: verification.Verdict) -> tuple[dict[str, Any] | None, TradeItem | None]:
    item = verdict.item
    if item is None:
        return None, None
    trade = session.get(TradeItem, item.trade_item_id)
    if not may_read_item(session, g.actor, item):  # never held it: only what is printed on the box
        return {"product": trade.name, "code": item.code_text}, trade
    custodian = get_organisation(session, org_id=item.custodian_org_id, actor=g.actor)
    facts = {
        "product": trade.name,
        "code": item.code_text,
        "batch": item.batch,
        "expiry": item.expiry,
        "status": item.status,
        "recalled": item.recalled,
        "custodian": custodian.name,
        "left": f"{trade.pack_size - item.dispensed_units} / {trade.pack_size} {trade.unit}",
    }
    return facts, trade


def _verdict_view(session, verdict: verification.Verdict, *, action: str, scanned: str) -> VerdictView:
    """Put a verdict into the reader's words: headline, reason, alert labels and the pack's facts."""
    pack, trade = _pack_facts(session, verdict)
    headline = verdict_headline(verdict.allowed, action)
    view = VerdictView(verdict.allowed, verdict.code, headline, "", printable(scanned), pack=pack)
    if verdict.code == "invalid_trace_code":
        view.reason, view.detail = scan_error_label(_parse_error(scanned)), verdict.reason
        return view
    item = verdict.item
    remaining = trade.pack_size - item.dispensed_units if trade and item else None
    view.reason = verdict_reason(
        verdict.code, verdict.reason, action=action, expiry=item.expiry if item else None, remaining=remaining,
        unit=trade.unit if trade else "",
    )  # fmt: skip
    severities = TRACE_RULES["severities"]
    view.alerts = [{"code": c, "label": alert_label(c), "severity": severities.get(c, "")} for c in verdict.alert_codes]
    if item is not None and may_read_item(session, g.actor, item):
        view.timeline_url = url_for(".item", code=item.code_text)
    return view


def _parse_error(text: str) -> str | None:
    """Return the parser's error code for a bad scan (None if it parses)."""
    try:
        parse(text)
    except InvalidCode as exc:
        return exc.code
    return None


@bp.route("/scan", methods=["GET"])
@role_required(*SCAN_ROLES)
def scan():
    """Show the scan field, the purpose (receive / dispense) and this session's recent scans."""
    return _render_scan(_scan_form())


@bp.route("/scan", methods=["POST"])
@role_required(*SCAN_ROLES)
def check_scan():
    """Tell whether the scanned pack may be received or dispensed here; nothing is recorded in the database."""
    # POST, not GET: the scan (a patient's pack, a GS1 string with control characters) stays out of URLs, access logs
    # and browser history, a reload does not re-log the scan, and the running log in the session is a change.
    form = _scan_form()
    if not form.validate_on_submit():
        return _render_scan(form, status=422)
    session, now, action = get_db(), utcnow(), form.action.data
    verdict = verification.check(
        session, actor=g.actor, code_text=form.code.data, action=EventType(action), now=now,
        quantity=form.quantity.data,
    )  # fmt: skip
    view = _verdict_view(session, verdict, action=action, scanned=form.code.data)
    log_scan(g.actor, action=action, code=form.code.data, allowed=view.allowed, reason=view.reason, now=now)
    # A fresh, empty form: the next scan follows at once into the cleared, focused field.
    return _render_scan(_scan_form(fresh=True), verdict=view, status=422 if view.detail else 200)


# ---------------------------------------------------------------- a pack's timeline


@bp.route("/items")
@login_required
def find_item():
    """Open a pack's timeline from a scanned or typed code."""
    text = request.args.get("code") or ""
    error, detail, status = None, None, 200
    if text.strip():
        try:
            parse(text)
        except InvalidCode as exc:
            error, detail, status = scan_error_label(exc.code), str(exc), 422
        else:
            try:
                view = get_item(get_db(), code_text=text, actor=g.actor)
            except DomainError as exc:
                if exc.kind != NOT_FOUND:
                    raise
                error, status = _("No pack with this code is visible to your organisation."), 404
            else:
                return redirect(url_for(".item", code=view.item.code_text))
    return render_template("pages/trace/find.html", code=text, error=error, detail=detail), status


@bp.route("/items/<path:code>")
@login_required
def item(code: str):
    """Show a pack's facts, alerts and events in order, with a badge saying whether a signed checkpoint proves them."""
    session = get_db()
    view = get_item(session, code_text=code, actor=g.actor)  # 404 for organisations that never held the pack
    public_key = platform_key().public_key()
    proof = prove_item(session, item_key=view.item.code_key, public_key=public_key, events=view.events,
                       last_leaf_hash=view.item.last_leaf_hash)  # fmt: skip
    checkpoint = session.get(Checkpoint, proof.checkpoint_size) if proof.checkpoint_size is not None else None
    return render_template(
        "pages/trace/item.html",
        view=view,
        trade=view.trade_item,
        proof=proof,
        proof_state=proof_state(proof),
        checkpoint=checkpoint,
        rows=timeline(session, actor=g.actor, events=view.events, proof=proof),
        pending_org=get_organisation(session, org_id=view.item.pending_org_id, actor=g.actor)
        if view.item.pending_org_id
        else None,
    )


@bp.route("/epcis/<path:code>")
@login_required
def item_epcis(code: str):
    """Download a pack's history as an EPCIS 2.0 JSON-LD document, signed in with the browser session."""
    # The API serves the same document to programs with a bearer token; auditors reading a timeline should not need
    # to create a token for it, and the service applies the same visibility rule to both doors.
    document = export_item_epcis(get_db(), code_text=code, actor=g.actor, now=utcnow())
    name = "".join(ch for ch in code if ch.isalnum())[:40] or "item"
    return Response(
        json.dumps(document, ensure_ascii=False, indent=1),
        mimetype="application/ld+json",
        headers={"Content-Disposition": f'attachment; filename="epcis-{name}.jsonld"'},
    )


# ---------------------------------------------------------------- the ledger


def _render_ledger(check=None):
    session = get_db()
    key = platform_key().public_key()
    size = ledger.size(session)
    try:
        checkpoint = ledger.latest_checkpoint(session)
    except DomainError as exc:
        if exc.kind != NOT_FOUND:
            raise
        checkpoint = None
    return render_template(
        "pages/trace/ledger.html",
        size=size,
        checkpoint=checkpoint,
        pending=size - checkpoint.tree_size if checkpoint else size,
        key_id=key_id(key),
        public_pem=public_pem(key),
        may_manage=g.actor.has(*LEDGER_ROLES),
        sign_form=ConfirmForm(),
        check=check,
    )


@bp.route("/ledger")
@login_required
def ledger_status():
    """Show the newest signed checkpoint, the log's size, the entries awaiting a checkpoint and the public key."""
    return _render_ledger()


@bp.route("/ledger/verify")
@role_required(*LEDGER_ROLES)
def verify_now():
    """Recompute the root, check the newest checkpoint's signature and that the log still extends it."""
    return _render_ledger(verify_ledger(get_db(), public_key=platform_key().public_key()))


@bp.route("/ledger/checkpoints", methods=["POST"])
@role_required(*LEDGER_ROLES)
def sign_checkpoint():
    """Sign the current tree head now, recording who asked for it."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    session = get_db()
    size = ledger.size(session)
    if size == 0:
        flash(_("The ledger is empty: there is nothing to sign yet."), "error")
    elif session.get(Checkpoint, size) is not None:
        flash(_("Checkpoint %(size)s already covers every entry; nothing new to sign.", size=size), "info")
    else:
        checkpoint = ledger.sign_checkpoint(session, key=platform_key(), now=utcnow())
        record_audit(
            session, actor=g.actor, action="ledger.checkpoint_signed", object_type="checkpoint",
            object_id=checkpoint.tree_size,
        )  # fmt: skip
        flash(_("Checkpoint %(size)s signed.", size=checkpoint.tree_size), "success")
    return redirect(url_for(".ledger_status"), 303)
