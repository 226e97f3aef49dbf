"""Agreements: agreed-volume progress against time, the online-purchase share and off-platform purchases."""

from __future__ import annotations

import datetime as dt

from flask_smorest import Blueprint

from core.db import utcnow
from procurement.ocds_codes import CHINA_TIME
from procurement.orders import arrangements, online_share, progress, progress_checks
from webui.api import agreements_schemas as s
from webui.api.common import actor, db, page_items

blp = Blueprint(
    "agreements_api", __name__, description="Agreed volumes against time (序时进度), online-purchase share (网采率)"
)


def _today() -> dt.date:
    # Progress and declarations follow the calendar in China, whatever the server's zone.
    return utcnow().astimezone(CHINA_TIME).date()


@blp.route("/agreements/progress", methods=["GET"])
@blp.arguments(s.ProgressQuery(), location="query")
@blp.response(200, s.ProgressOut(many=True))
@blp.paginate()
def list_progress(args: dict, pagination_parameters):
    """List agreed volume against purchases and time elapsed: a hospital its own, a supplier its awards'."""
    page = progress.list_progress(
        db(),
        actor=actor(),
        on=args["on"] or _today(),
        hospital_id=args["hospital_id"],
        tender_id=args["tender_id"],
        status=args["status"],
        page=pagination_parameters.page,
        per_page=pagination_parameters.page_size,
    )
    return page_items(page, pagination_parameters)


@blp.route("/agreements/progress-checks", methods=["POST"])
@blp.arguments(s.ProgressCheckIn())
@blp.response(200, s.ProgressCheckOut)
def check_progress(data: dict):
    """Raise an alert for each hospital × lot behind time on a day; each is raised once a month."""
    on = data["on"] or _today()
    return {"on": on, "alerts": progress_checks.check_progress(db(), actor=actor(), on=on)}


@blp.route("/agreements/online-share", methods=["GET"])
@blp.arguments(s.OnlineShareQuery(), location="query")
@blp.response(200, s.OnlineShareOut(many=True))
@blp.paginate()
def list_online_share(args: dict, pagination_parameters):
    """List each hospital's online-purchase share by amount, drugs and consumables apart, against the targets."""
    today = _today()
    rows = online_share.online_share(
        db(),
        actor=actor(),
        start=args["start"] or today.replace(month=1, day=1),
        end=args["end"] or today,
        hospital_id=args["hospital_id"],
    )
    page = progress.page_of(rows, page=pagination_parameters.page, per_page=pagination_parameters.page_size)
    return page_items(page, pagination_parameters)


@blp.route("/agreements/offline-purchases", methods=["GET"])
@blp.arguments(s.OfflinePurchaseQuery(), location="query")
@blp.response(200, s.OfflinePurchaseOut(many=True))
@blp.paginate()
def list_offline_purchases(args: dict, pagination_parameters):
    """List declared off-platform purchases: a hospital its own; auditors and admins any hospital's."""
    rows = arrangements.list_offline_purchases(db(), actor=actor(), hospital_id=args["hospital_id"])
    page = progress.page_of(rows, page=pagination_parameters.page, per_page=pagination_parameters.page_size)
    return page_items(page, pagination_parameters)


@blp.route("/agreements/offline-purchases", methods=["POST"])
@blp.arguments(s.OfflinePurchaseIn())
@blp.response(201, s.OfflinePurchaseOut)
def declare_offline_purchase(data: dict):
    """Declare a purchase the hospital made outside the platform, for its online-purchase share."""
    caller = actor()
    hospital_id = data.pop("hospital_id") or caller.org_id
    return arrangements.declare_offline_purchase(db(), actor=caller, hospital_id=hospital_id, today=_today(), **data)
