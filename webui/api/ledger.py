"""The verifiable ledger: signed tree heads, raw entries, RFC 6962 proofs, the platform's public key."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from core.audit import record_audit
from core.db import utcnow
from core.roles import Role
from trace import ledger
from trace.signing import key_id, public_pem
from webui.api.common import actor, db
from webui.trace_support import platform_key

blp = Blueprint("ledger_api", __name__, description="Verifiable ledger (RFC 6962 Merkle tree, Ed25519 checkpoints)")


class CheckpointOut(ma.Schema):
    tree_size = ma.fields.Integer()
    root = ma.fields.String(metadata={"description": "hex"})
    signed_at = ma.fields.String(metadata={"description": "UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ, as signed"})
    key_id = ma.fields.String()
    signature = ma.fields.String(
        metadata={"description": "Ed25519 over the canonical JSON {v, tree_size, root, signed_at}"}
    )


class EntriesQuery(ma.Schema):
    start = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0))
    end = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0))


class EntryOut(ma.Schema):
    idx = ma.fields.Integer()
    leaf_hash = ma.fields.String()
    entry = ma.fields.String(metadata={"description": "The canonical JSON bytes of the entry, as text"})


class InclusionQuery(ma.Schema):
    index = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0))
    tree_size = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))


class ConsistencyQuery(ma.Schema):
    first = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
    second = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))


class ProofOut(ma.Schema):
    tree_size = ma.fields.Integer()
    index = ma.fields.Integer(allow_none=True)
    first = ma.fields.Integer(allow_none=True)
    leaf_hash = ma.fields.String(allow_none=True)
    proof = ma.fields.List(ma.fields.String())


class PublicKeyOut(ma.Schema):
    algorithm = ma.fields.Constant("Ed25519")
    key_id = ma.fields.String()
    pem = ma.fields.String()


@blp.route("/ledger/checkpoints/latest", methods=["GET"])
@blp.response(200, CheckpointOut)
def latest_checkpoint() -> dict:
    """Return the newest signed tree head."""
    return ledger.checkpoint_dict(ledger.latest_checkpoint(db()))


@blp.route("/ledger/checkpoints/<int:tree_size>", methods=["GET"])
@blp.response(200, CheckpointOut)
def get_checkpoint(tree_size: int) -> dict:
    """Return the signed tree head of one size."""
    return ledger.checkpoint_dict(ledger.get_checkpoint(db(), tree_size))


@blp.route("/ledger/checkpoints", methods=["POST"])
@blp.response(201, CheckpointOut)
def sign_checkpoint() -> dict:
    """Sign the current tree head now (auditors, administrators); the same size is returned, not re-signed."""
    who = actor()
    who.require(Role.AUDITOR, Role.ADMIN)
    checkpoint = ledger.sign_checkpoint(db(), key=platform_key(), now=utcnow())
    record_audit(
        db(), actor=who, action="ledger.checkpoint_signed", object_type="checkpoint", object_id=checkpoint.tree_size
    )
    return ledger.checkpoint_dict(checkpoint)


@blp.route("/ledger/entries", methods=["GET"])
@blp.arguments(EntriesQuery(), location="query")
@blp.response(200, EntryOut(many=True))
def list_entries(args: dict) -> list[dict]:
    """Return raw log entries [start, end) for independent verification (auditors; at most 1,000)."""
    actor().require(Role.AUDITOR, Role.ADMIN)
    rows = ledger.entries(db(), start=args["start"], end=args["end"])
    return [{"idx": r.idx, "leaf_hash": bytes(r.leaf_hash).hex(), "entry": bytes(r.entry).decode()} for r in rows]


@blp.route("/ledger/proofs/inclusion", methods=["GET"])
@blp.arguments(InclusionQuery(), location="query")
@blp.response(200, ProofOut)
def inclusion_proof(args: dict) -> dict:
    """Return the RFC 6962 inclusion proof of one entry in a tree size."""
    session = db()
    proof = ledger.inclusion_proof(session, index=args["index"], tree_size=args["tree_size"])
    leaf = ledger.StoredNodes(session).leaf_hash(args["index"])
    return {
        "tree_size": args["tree_size"],
        "index": args["index"],
        "leaf_hash": leaf.hex(),
        "proof": [p.hex() for p in proof],
    }


@blp.route("/ledger/proofs/consistency", methods=["GET"])
@blp.arguments(ConsistencyQuery(), location="query")
@blp.response(200, ProofOut)
def consistency_proof(args: dict) -> dict:
    """Return the RFC 6962 consistency proof between two tree sizes."""
    proof = ledger.consistency_proof(db(), first=args["first"], second=args["second"])
    return {"tree_size": args["second"], "first": args["first"], "proof": [p.hex() for p in proof]}


@blp.route("/ledger/public-key", methods=["GET"])
@blp.response(200, PublicKeyOut)
def public_key() -> dict:
    """Return the platform's Ed25519 verification key."""
    key = platform_key().public_key()
    return {"key_id": key_id(key), "pem": public_pem(key)}
