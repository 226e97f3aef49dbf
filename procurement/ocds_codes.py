"""The OCDS code lists and identifier schemes the tender export maps to (OCDS 1.1, lots, bids and medicines)."""

from __future__ import annotations

import datetime as dt
import re

OCDS_VERSION = "1.1"
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")  # the publisher's time zone, in which dates are shown
_EXT = "https://raw.githubusercontent.com/open-contracting-extensions"
EXTENSIONS = (
    f"{_EXT}/ocds_lots_extension/v1.1.5/extension.json",
    f"{_EXT}/ocds_bid_extension/v1.1.5/extension.json",
    f"{_EXT}/ocds_medicines_extension/b8ba9dd38cfb6a411549d5496f1450b6200a7237/extension.json",
)
# 统一社会信用代码 (GB 32100-2015): issued to firms and public institutions (hospitals) alike, so no registrar's
# org-id.guide prefix fits every party; the scheme is named here and in the publication policy.
USCC_SCHEME = "CN-USCC"
NHSA_SCHEME = "CN-NHSA"  # 国家医保药品分类与代码, the national medical-insurance drug code
GTIN_SCHEME = "GTIN"
PRODUCT_SCHEME = "YAOLIAN-PRODUCT"  # the platform's own product id, when neither code above is known

# Our lifecycle → (release tag, tenderStatus); both codelists are closed.
STAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "draft": (("planning",), "planning"),
    "demand_collection": (("planning",), "planned"),
    "bidding": (("tender",), "active"),
    "opened": (("tender",), "active"),
    "evaluated": (("tender",), "active"),
    "awarded": (("award",), "complete"),
    "in_force": (("award", "contract"), "complete"),
    "closed": (("award", "contractTermination"), "complete"),
}
BIDS_COUNTED = frozenset({"bidding", "opened", "evaluated", "awarded", "in_force", "closed"})
BIDS_DISCLOSED = frozenset({"opened", "evaluated", "awarded", "in_force", "closed"})
AWARDS_PUBLISHED = frozenset({"awarded", "in_force", "closed"})
CONTRACTS_PUBLISHED = frozenset({"in_force", "closed"})

# Our bid statuses and evaluation outcomes → the bids extension's closed bidStatus codelist.
BID_STATUS = (
    dict.fromkeys(("sealed", "opened"), "pending")
    | dict.fromkeys(("valid", "won", "won_revived", "revival_offered", "lost"), "valid")
    | dict.fromkeys(("invalid", "disqualified"), "disqualified")
    | {"withdrawn": "withdrawn"}
)
AWARD_STATUS = frozenset({"pending", "active", "cancelled", "unsuccessful"})  # closed awardStatus codelist

# 剂型 → the medicine extension's dosageForm codes (HL7 orderableDrugForm top-level concepts, where tablets and
# capsules sit under PILL and oral solutions under SOL). 注射剂 is left out on purpose: it covers solutions,
# suspensions, emulsions and powders for injection, which are different codes; an unmapped form is omitted.
DOSAGE_FORMS = dict.fromkeys(
    ("片剂", "普通片", "缓释片", "控释片", "分散片", "肠溶片", "胶囊剂", "胶囊", "缓释胶囊"), "PILL"
) | {
    "颗粒剂": "GRAN", "口服溶液剂": "SOL", "注射液": "SOL", "散剂": "POWD", "混悬剂": "SUSP", "乳膏剂": "CRM",
    "软膏剂": "OINT", "凝胶剂": "GEL", "栓剂": "SUPP", "贴剂": "PATCH", "气雾剂": "AER",
}  # fmt: skip
# A single strength such as "0.25g" → UN/CEFACT Recommendation 20 unit codes; anything else stays in the text.
_STRENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mg|g|μg|µg|ug|ml|mL)\s*$")
_UNCEFACT = {"mg": "MGM", "g": "GRM", "μg": "MC", "µg": "MC", "ug": "MC", "ml": "MLT", "mL": "MLT"}
