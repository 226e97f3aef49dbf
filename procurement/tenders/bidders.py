"""Linked firms bid as one (关联企业视为一家, rulebook 1.1.5).

The platform knows one kind of link: contract manufacturing (委托生产), where a product's marketing-authorisation
holder (MAH) is not its manufacturer. Links count within a lot's product group (同品种): the holder and the maker of
one of the lot's products are one bidder there. Equity and management links are not recorded on the platform.

Bidding refuses a second bid from one bidder on a lot; evaluation still counts linked firms as one bidder, for a link
that appeared after bidding (a registration transferred, 1.8.5) or bids stored before the refusal existed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session

from core.actor import Actor
from core.errors import CONFLICT, DomainError
from procurement.catalogue import Product
from procurement.tenders.models import Bid, Lot, LotProduct


def contract_links(session: Session, lot_ids: Iterable[int]) -> dict[int, dict[frozenset[int], Product]]:
    """Return, per lot, each pair of firms linked by contract manufacturing of one of its products, with the product."""
    ids = set(lot_ids)
    if not ids:
        return {}
    rows = session.exec(
        sa.select(LotProduct.lot_id, Product)
        .join(Product, Product.id == LotProduct.product_id)
        .where(
            LotProduct.lot_id.in_(ids),
            Product.mah_id.is_not(None),
            Product.mah_id != Product.manufacturer_id,
        )
        .order_by(LotProduct.lot_id, Product.id)
    ).all()
    links: dict[int, dict[frozenset[int], Product]] = defaultdict(dict)
    for lot_id, product in rows:
        links[lot_id].setdefault(frozenset((product.mah_id, product.manufacturer_id)), product)
    return links


def bidder_of(firms: Iterable[int], links: Iterable[frozenset[int]]) -> dict[int, int]:
    """Map each bidding firm to the bidder it counts as: the lowest organisation id among the firms linked to it.

    Only links between bidding firms join them, so two holders sharing a contract maker that did not bid stay apart.
    """
    parent = {firm: firm for firm in firms}

    def root(firm: int) -> int:
        while parent[firm] != firm:
            firm = parent[firm]
        return firm

    for pair in links:
        if len(pair) == 2 and pair <= parent.keys():
            first, second = sorted(root(firm) for firm in pair)
            parent[second] = first
    return {firm: root(firm) for firm in parent}


def role_of(product: Product, firm: int) -> str:
    """Name a firm's role for a product, for messages: its holder, its maker, or both."""
    if firm == product.holder_id and firm == product.manufacturer_id:
        return "marketing-authorisation holder and manufacturer"
    if firm == product.holder_id:
        return "marketing-authorisation holder"
    if firm == product.manufacturer_id:
        return "contract manufacturer"
    return "former holder or manufacturer"


def refuse_linked_bid(session: Session, *, lot: Lot, product: Product, actor: Actor) -> None:
    """Refuse a bid from a firm that is one bidder with a firm that already bid on the lot (rulebook 1.1.5)."""
    rivals = list(
        session.exec(
            sa.select(Bid).where(Bid.lot_id == lot.id, Bid.supplier_id != actor.org_id).order_by(Bid.id)
        ).scalars()
    )
    same = next((bid for bid in rivals if bid.product_id == product.id), None)
    if same is not None:
        role = role_of(product, same.supplier_id)
        raise DomainError(
            CONFLICT,
            f"product {product.id} was already bid on lot {lot.number} by its {role}: the holder and the maker of "
            "one product are one bidder, and a product is bid once per lot (rulebook 1.1.5)",
            code="product_already_bid",
            errors={"product_id": [f"already bid on this lot by its {role} (rule 1.1.5)"]},
        )
    links = contract_links(session, [lot.id]).get(lot.id, {})
    for bid in rivals:
        linking = links.get(frozenset((actor.org_id, bid.supplier_id)))
        if linking is not None:
            role = role_of(linking, bid.supplier_id)
            raise DomainError(
                CONFLICT,
                f"the {role} of product {linking.id}, linked to your firm by contract manufacturing, already bid "
                f"on lot {lot.number}: linked firms are one bidder, with one bid per lot (rulebook 1.1.5)",
                code="linked_bidder",
                errors={
                    "supplier_id": [f"linked to the {role} of product {linking.id}, which already bid (rule 1.1.5)"]
                },
            )
