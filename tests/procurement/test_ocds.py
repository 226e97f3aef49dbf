"""OCDS export: every stage validates against the official schemas, and no price shows before opening."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema.validators import validator_for

from procurement import ocds
from procurement.ocds import OcdsAward, OcdsBid, OcdsItem, OcdsLot, OcdsParty, OcdsTender

STANDARDS = Path(__file__).resolve().parents[3] / "shared" / "standards" / "ocds"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")
NOW = dt.datetime(2025, 6, 1, 2, 0, tzinfo=dt.UTC)


# ---------------------------------------------------------------- the validator, from the official files


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386) and return the result; the inputs are not changed."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


@dataclass(frozen=True)
class PackageValidator:
    """Checks a package against the package schema, and each release against the core schema plus extensions."""

    package: jsonschema.protocols.Validator
    release: jsonschema.protocols.Validator

    def errors(self, document: dict[str, Any]) -> list[str]:
        """Return every schema error as ``path: message``; empty when the package is valid."""
        found = [_error_text((), error) for error in self.package.iter_errors(document)]
        releases = document.get("releases")
        for index, release in enumerate(releases if isinstance(releases, list) else ()):
            found.extend(_error_text(("releases", index), error) for error in self.release.iter_errors(release))
        return found


def build_validator(standards_dir: Path) -> PackageValidator:
    """Build a validator from ``schema/`` and every extension folder (``extension.json`` + ``release-schema.json``).

    Each extension's release schema is a JSON merge patch on the core release schema, so lots and bids fields are
    checked as soon as their extensions' files are placed beside the medicine extension.
    """
    release = _load(standards_dir / "schema" / "release-schema.json")
    for folder in sorted(path.parent for path in standards_dir.glob("*/extension.json")):
        if (folder / "release-schema.json").is_file():
            release = merge_patch(release, _load(folder / "release-schema.json"))
    package = _load(standards_dir / "schema" / "release-package-schema.json")
    # The package's releases $ref the core release schema by URL: each release is checked against the merged one.
    package["properties"]["releases"]["items"] = {"type": "object"}
    checker = jsonschema.FormatChecker()  # by the standard library, whatever optional packages are installed
    checker.checks("date-time")(lambda value: not isinstance(value, str) or _is_date_time(value))
    checker.checks("uri")(lambda value: not isinstance(value, str) or bool(URI.match(value)))
    validators = []
    for schema in (package, release):
        cls = validator_for(schema)
        cls.check_schema(schema)
        validators.append(cls(schema, format_checker=checker))
    return PackageValidator(package=validators[0], release=validators[1])


def _is_date_time(text: str) -> bool:
    try:
        return bool(RFC3339.match(text)) and dt.datetime.fromisoformat(text.replace("Z", "+00:00")) is not None
    except ValueError:
        return False


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _error_text(prefix: tuple, error: jsonschema.ValidationError) -> str:
    path = "/".join(str(part) for part in (*prefix, *error.absolute_path))
    return f"{path or '(root)'}: {error.message}"


@pytest.fixture(scope="module")
def validator() -> PackageValidator:
    if not (STANDARDS / "schema" / "release-schema.json").is_file():
        pytest.skip(f"the OCDS 1.1 standard files are not at {STANDARDS} (../shared/standards/ocds)")
    return build_validator(STANDARDS)


# ---------------------------------------------------------------- a tender at every stage

BUREAU, HOSPITAL, MAKER_A, MAKER_B, MAKER_C = 1, 2, 21, 22, 23
PARTIES = (
    OcdsParty(BUREAU, "福建省药械联合采购中心", (), "12350000MB0123456X", "福建省"),
    OcdsParty(HOSPITAL, "福建医科大学附属第一医院", ("buyer",), "12350000488000111A", "福州市"),
    OcdsParty(MAKER_A, "甲制药有限公司", ("tenderer",), "91350100MA2Y000001", "福州市"),
    OcdsParty(MAKER_B, "乙药业股份有限公司", (), "91350200MA2Y000002", "厦门市"),
    OcdsParty(MAKER_C, "丙生物制药有限公司", (), None, None),
)
CAPSULE = OcdsItem(101, "阿莫西林", "胶囊剂", "0.25g", "每盒24粒", 24, "粒", MAKER_A, "XJ01CAA040E001010100001")
CAPSULE_B = OcdsItem(102, "阿莫西林", "胶囊剂", "0.25g", "每盒36粒", 36, "粒", MAKER_B, None, "06901234567892")
INJECTION = OcdsItem(201, "头孢呋辛钠", "注射剂", "0.75g", "每瓶1支", 1, "支", MAKER_C)
LOTS = (
    OcdsLot(11, "阿莫西林口服常释剂型", Decimal("0.3500"), items=(CAPSULE, CAPSULE_B)),
    OcdsLot(12, "注射用头孢呋辛钠", Decimal("6.8000"), items=(INJECTION,)),
)
# Distinctive prices, so a search of the JSON text cannot miss them.
PRICES = {501: Decimal("0.1234"), 502: Decimal("0.2987"), 503: Decimal("5.4321")}
SENT = dt.datetime(2025, 3, 1, 9, 17, 43, tzinfo=dt.UTC)
BIDS = (
    OcdsBid(501, 11, MAKER_A, PRICES[501], SENT, "won"),
    OcdsBid(502, 11, MAKER_B, PRICES[502], SENT + dt.timedelta(minutes=1), "lost"),
    OcdsBid(503, 12, MAKER_C, PRICES[503], SENT + dt.timedelta(minutes=2), "won"),
)
AWARDED_AT = dt.datetime(2025, 4, 2, 6, 0, tzinfo=dt.UTC)
AWARDS = (
    OcdsAward(901, 11, MAKER_A, PRICES[501], "pending", AWARDED_AT, 1_200_000, "第1名，单位可比价最低（规则1.3.3）"),
    OcdsAward(902, 12, MAKER_C, PRICES[503], "pending", AWARDED_AT, 35_000, "唯一有效申报，价格不高于最高有效申报价"),
)


def tender(status: str, **changes: Any) -> OcdsTender:
    base = OcdsTender(
        id=7,
        ocid_prefix="ocds-yl7x2p",
        title="第一批药品带量采购",
        description="福建省药品集中带量采购",
        status=status,
        procuring_entity_id=BUREAU,
        rule_set_name="national_vbp",
        rule_set_version="2024.1",
        bid_deadline=dt.datetime(2025, 3, 10, 2, 0, tzinfo=dt.UTC),
        period_start=dt.date(2025, 5, 1),
        period_end=dt.date(2027, 4, 30),
        published_at=dt.datetime(2025, 2, 1, 1, 0, tzinfo=dt.UTC),
        lots=LOTS,
        bids=BIDS,
        awards=AWARDS,
        parties=PARTIES,
    )
    return dataclasses.replace(base, **changes)


def package(status: str, **changes: Any) -> dict[str, Any]:
    return ocds.release_package(
        tender(status, **changes), publisher_name="药联", uri="https://yaolian.example/api/v1/tenders/7/ocds", now=NOW
    )


def text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False)


def walk(document: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Yield (path, key, value) for every member of every object in a document."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield f"{path}/{key}", key, value
            yield from walk(value, f"{path}/{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from walk(value, f"{path}/{index}")


# ---------------------------------------------------------------- the stages


@pytest.mark.parametrize("status", list(ocds.STAGES))
def test_every_stage_validates_against_the_official_schemas(validator, status):
    document = package(status)
    assert validator.errors(document) == []
    release = document["releases"][0]
    assert release["ocid"] == "ocds-yl7x2p-7" and release["tag"] == list(ocds.STAGES[status][0])
    assert document["version"] == "1.1" and document["extensions"] == list(ocds.EXTENSIONS)


def test_while_bidding_no_price_bidder_or_bid_time_shows(validator):
    document = package("bidding")
    assert validator.errors(document) == []
    published = text(document)
    for price in PRICES.values():
        for form in (str(price), repr(float(price)), str(price.normalize())):
            assert form not in published
    for maker in (MAKER_A, MAKER_B, MAKER_C):
        name = next(p.name for p in PARTIES if p.id == maker)
        assert name not in published  # a party given only the tenderer role stays hidden too
    assert "2025-03-01T17:1" not in published  # the bids' submission times (China time)
    release = document["releases"][0]
    assert "details" not in release["bids"] and "awards" not in release
    counts = {(s["measure"], s.get("relatedLot")): s["value"] for s in release["bids"]["statistics"]}
    assert counts == {("bids", None): 3, ("bidders", None): 3, ("bids", "11"): 2, ("bids", "12"): 1}
    assert release["tender"]["numberOfTenderers"] == 3 and "tenderers" not in release["tender"]
    assert release["tender"]["status"] == "active"


def test_before_bidding_there_is_no_bids_section(validator):
    release = package("demand_collection", bids=())["releases"][0]
    assert "bids" not in release and "numberOfTenderers" not in release["tender"]
    assert release["tender"]["status"] == "planned" and release["tag"] == ["planning"]


def test_once_opened_every_bid_shows_its_price_and_tenderer(validator):
    document = package("opened")
    assert validator.errors(document) == []
    release = document["releases"][0]
    details = {d["id"]: d for d in release["bids"]["details"]}
    assert {key: Decimal(repr(d["value"]["amount"])) for key, d in details.items()} == {
        str(key): price for key, price in PRICES.items()
    }
    assert details["501"]["tenderers"][0]["name"] == "甲制药有限公司" and details["501"]["relatedLots"] == ["11"]
    assert details["501"]["status"] == "valid" and details["501"]["value"]["currency"] == "CNY"
    roles = {party["name"]: party["roles"] for party in release["parties"]}
    assert roles["乙药业股份有限公司"] == ["tenderer"]
    assert roles["福建省药械联合采购中心"] == ["procuringEntity"]
    assert roles["福建医科大学附属第一医院"] == ["buyer"]
    assert release["buyer"]["name"] == "福建医科大学附属第一医院"
    assert len(release["tender"]["tenderers"]) == 3 and "awards" not in release


def test_once_awarded_the_awards_name_winners_prices_volumes_and_reasons(validator):
    document = package("awarded")
    assert validator.errors(document) == []
    release = document["releases"][0]
    assert release["tag"] == ["award"] and release["tender"]["status"] == "complete"
    award = next(a for a in release["awards"] if a["id"] == "901")
    assert award["suppliers"] == [{"id": "CN-USCC-91350100MA2Y000001", "name": "甲制药有限公司"}]
    assert award["status"] == "pending" and award["relatedLots"] == ["11"] and award["relatedBids"] == ["501"]
    assert Decimal(repr(award["value"]["amount"])) == PRICES[501] * 1_200_000
    assert award["description"] == "第1名，单位可比价最低（规则1.3.3）"
    [item] = award["items"]  # only the winner's own product in the lot
    assert item["id"] == "11-101" and item["quantity"] == 1_200_000
    assert Decimal(repr(item["unit"]["value"]["amount"])) == PRICES[501] and item["unit"]["name"] == "粒"
    roles = {party["id"]: party["roles"] for party in release["parties"]}
    assert roles["CN-USCC-91350100MA2Y000001"] == ["supplier", "tenderer"]
    assert roles["yaolian-org-23"] == ["supplier", "tenderer"]  # no USCC known: the platform's own id
    assert "contracts" not in release


def test_an_award_without_a_date_leaves_the_date_out(validator):
    undated = tuple(dataclasses.replace(award, date=None) for award in AWARDS)
    document = package("awarded", awards=undated)
    assert validator.errors(document) == []
    assert all("date" not in award for award in document["releases"][0]["awards"])


def test_in_force_awards_become_contracts(validator):
    active = tuple(dataclasses.replace(award, status="active") for award in AWARDS)
    document = package("in_force", awards=active)
    assert validator.errors(document) == []
    contracts = document["releases"][0]["contracts"]
    assert [(c["awardID"], c["status"]) for c in contracts] == [("901", "active"), ("902", "active")]
    assert contracts[0]["period"] == {"startDate": "2025-05-01T00:00:00+08:00", "endDate": "2027-04-30T23:59:59+08:00"}


def test_items_carry_the_medicine_extension_fields(validator):
    items = {item["id"]: item for item in package("bidding")["releases"][0]["tender"]["items"]}
    capsule = items["11-101"]
    assert capsule["dosageForm"] == "PILL" and capsule["relatedLot"] == "11"
    assert capsule["classification"] == {"scheme": "CN-NHSA", "id": CAPSULE.insurance_code, "description": "阿莫西林"}
    assert capsule["activeIngredients"] == [
        {"name": "阿莫西林", "strength": {"value": 0.25, "unit": {"scheme": "UNCEFACT", "id": "GRM"}}}
    ]
    assert capsule["unit"] == {"name": "粒", "value": {"amount": 0.35, "currency": "CNY"}}  # the lot's ceiling
    assert items["11-102"]["classification"]["scheme"] == "GTIN"
    assert "dosageForm" not in items["12-201"]  # 注射剂 has no single HL7 form: omitted, not guessed
    compound = dataclasses.replace(CAPSULE, generic_name="复方甘草", strength="复方")
    lots = (dataclasses.replace(LOTS[0], items=(compound,)), LOTS[1])
    [item, _] = package("bidding", lots=lots)["releases"][0]["tender"]["items"]
    assert "activeIngredients" not in item and item["description"].startswith("复方甘草")


def test_dosage_form_codes_come_from_the_extension_codelist():
    codelist = STANDARDS / "medicines_extension" / "codelists" / "dosageForm.csv"
    if not codelist.is_file():
        pytest.skip(f"the medicine extension's codelists are not at {codelist.parent}")
    with codelist.open(encoding="utf-8") as handle:
        codes = {row["Code"] for row in csv.DictReader(handle)}
    assert set(ocds.DOSAGE_FORMS.values()) <= codes
    assert ocds.dosage_form_code(" 缓释片 ") == "PILL" and ocds.dosage_form_code("注射剂") is None


# ---------------------------------------------------------------- the JSON edge


@pytest.mark.parametrize("status", ["bidding", "awarded", "closed"])
def test_dates_are_rfc3339_with_a_time_zone(status):
    dates = [(path, value) for path, key, value in walk(package(status)) if key.lower().endswith("date")]
    assert len(dates) >= 4
    for path, value in dates:
        assert isinstance(value, str) and RFC3339.match(value), (path, value)
        assert dt.datetime.fromisoformat(value).utcoffset() is not None


@pytest.mark.parametrize("status", ["opened", "awarded"])
def test_amounts_are_json_numbers_of_at_most_four_places(status):
    document = json.loads(json.dumps(package(status)))  # as a client reads it
    amounts = [(path, value) for path, key, value in walk(document) if key == "amount"]
    assert len(amounts) >= 6
    for path, value in amounts:
        assert isinstance(value, int | float) and not isinstance(value, bool), path
        assert Decimal(repr(value)).as_tuple().exponent >= -4, (path, value)


def test_an_amount_that_cannot_be_exact_is_refused():
    too_fine = (dataclasses.replace(LOTS[0], ceiling=Decimal("0.35001")), LOTS[1])
    with pytest.raises(ValueError, match="four decimal places"):
        package("bidding", lots=too_fine)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        package("bidding", bid_deadline=dt.datetime(2025, 3, 10, 10, 0))


def test_a_referenced_party_must_be_given():
    with pytest.raises(ValueError, match="23"):
        package("opened", parties=PARTIES[:-1])


def test_the_release_id_follows_the_content_and_the_date_the_last_change():
    changed = dt.datetime(2025, 3, 11, 1, 0, tzinfo=dt.UTC)
    first = package("opened", updated_at=changed)
    later = NOW + dt.timedelta(days=3)
    again = ocds.release_package(tender("opened", updated_at=changed), publisher_name="药联", uri="urn:x", now=later)
    assert again["releases"][0] == first["releases"][0]  # fetched again later: the same release
    assert first["publishedDate"] == first["releases"][0]["date"] == "2025-03-11T09:00:00+08:00"
    disqualified = tuple(dataclasses.replace(bid, status="invalid") for bid in BIDS)
    assert package("opened", bids=disqualified)["releases"][0]["id"] != first["releases"][0]["id"]
    assert package("opened", title="第二批")["releases"][0]["id"] != first["releases"][0]["id"]
    assert package("bidding")["releases"][0]["date"] == "2025-06-01T10:00:00+08:00"  # no last change known: now


# ---------------------------------------------------------------- the validator is live


def test_a_broken_package_fails_validation(validator):
    good = package("awarded")
    broken = json.loads(json.dumps(good))
    broken["releases"][0]["awards"][0]["value"]["amount"] = "148.08"
    broken["releases"][0]["tender"]["tenderPeriod"]["endDate"] = "2025-03-10 10:00"
    broken["releases"][0]["tender"]["items"][0]["dosageForm"] = ""  # medicine extension: minLength 1
    broken["releases"][0]["tag"] = ["sealed"]
    broken["publishedDate"] = "yesterday"
    found = "\n".join(validator.errors(broken))
    for where in (
        "releases/0/awards/0/value/amount",
        "releases/0/tender/tenderPeriod/endDate",
        "releases/0/tender/items/0/dosageForm",
        "releases/0/tag/0",
        "publishedDate",
    ):
        assert where in found, found
    del broken["releases"]
    assert any("releases" in error for error in validator.errors(broken))


def test_merge_patch_follows_rfc_7386():
    # Examples from RFC 7386 appendix A.
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch([1, 2], {"a": "b", "c": None}) == {"a": "b"}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
