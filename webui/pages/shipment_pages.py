"""Order pages, continued: the documents filed with a shipment, and refused packs taken back by the supplier.

The routes join the order pages' blueprint (``webui.pages.orders``), whose order page shows both.
"""

from __future__ import annotations

import io

from flask import abort, flash, g, redirect, send_file, url_for
from flask_babel import gettext as _

from core.errors import DomainError
from core.roles import Role
from procurement.orders import documents
from procurement.orders.take_back import take_back_refused
from webui.db import get_db
from webui.pages.common import role_required
from webui.pages.forms import ConfirmForm
from webui.pages.order_forms import DocumentForm
from webui.pages.order_labels import general_message, order_message
from webui.pages.order_views import status_of
from webui.pages.orders import READERS, _act, _render, bp


@bp.route("/<int:order_id>/shipments/<int:shipment_id>/documents", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def file_document(order_id: int, shipment_id: int):
    """Attach the delivery note or an invoice file to a shipment (its supplier)."""
    form = DocumentForm(prefix=f"d{shipment_id}")
    key = ("document", shipment_id)
    if not form.validate_on_submit():
        return _render(order_id, status=422, forms={key: form})
    upload = form.file.data
    try:
        _doc, created = documents.upload_document(
            get_db(), order_id=order_id, shipment_id=shipment_id, kind=form.kind.data, filename=upload.filename or "",
            data=upload.read(), actor=g.actor,
        )  # fmt: skip
    except DomainError as exc:
        status = status_of(exc)
        for name, messages in exc.errors.items():
            field = getattr(form, name, None) or form.file
            field.errors = [*field.errors, *(order_message(str(m)) for m in messages)]
        return _render(order_id, status=status, errors=[general_message(exc)], forms={key: form})
    flash(_("Document attached.") if created else _("This file was already attached; nothing added."), "success")
    return redirect(url_for(".order", order_id=order_id) + f"#shipment-{shipment_id}")


@bp.route("/<int:order_id>/shipments/<int:shipment_id>/documents/<int:document_id>", methods=["GET"])
@role_required(*READERS)
def document(order_id: int, shipment_id: int, document_id: int):
    """Download a document filed with a shipment (the order's parties and auditors)."""
    try:
        found = documents.get_document(
            get_db(), order_id=order_id, shipment_id=shipment_id, document_id=document_id, actor=g.actor
        )
    except DomainError as exc:
        status_of(exc)
        raise
    return send_file(io.BytesIO(found.content), mimetype=found.media_type, as_attachment=True,
                     download_name=found.filename, etag=found.sha256, max_age=0)  # fmt: skip


@bp.route("/<int:order_id>/shipments/<int:shipment_id>/take-back", methods=["POST"])
@role_required(Role.SUPPLIER_REP)
def take_back(order_id: int, shipment_id: int):
    """Take the shipment's refused packs back into the supplier's stock."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    done: list = []

    def act() -> None:
        done.append(take_back_refused(get_db(), order_id=order_id, shipment_id=shipment_id, actor=g.actor))

    return _act(order_id, act, _("Refused packs taken back into stock."))
