"""The named rule sets: their rulebook citations, overrides validation and the describe → rebuild round trip."""

import copy
import json

import pytest

from core.errors import DomainError
from procurement.rules.rulesets import (
    RULE_SETS,
    apply_overrides,
    get_rule_set,
    rule_set_from_description,
)

ERAS = {
    "vbp.4plus7": "1.3.1",
    "vbp.batch2-9": "1.3.3",
    "vbp.batch7": "1.3.3",
    "vbp.batch10": "1.3.4",
    "vbp.batch11": "1.3.6",
    "alliance.sanming-ab": "2.4",
    "hospital-led.negotiated": "0.6",
}


@pytest.mark.parametrize(("name", "rule"), ERAS.items())
def test_every_era_has_a_named_versioned_set_citing_its_selection_rule(name, rule):
    rule_set = get_rule_set(name)
    assert rule_set.name == name and rule_set.version
    assert rule in rule_set.cites
    assert rule_set["selector"]
    assert rule_set.note, "a rule set explains its [U] choices in its note"


def test_unknown_rule_set_is_not_found():
    with pytest.raises(DomainError) as caught:
        get_rule_set("vbp.batch99")
    assert caught.value.kind == "not_found"


def test_unverified_values_are_marked_in_the_note():
    # Rulebook [U] items must be parameters, and the set must say so (1.3.4 thresholds, 1.3.6 caps, 1.4.3 ratios).
    assert "[U]" in get_rule_set("vbp.batch10").note
    assert "[U]" in get_rule_set("vbp.batch11").note
    assert "[U]" in get_rule_set("alliance.sanming-ab").note


def test_1_3_5_cap_tables_are_the_rulebook_rows():
    assert get_rule_set("vbp.batch2-9")["winner_caps"] == (1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9, 9, 10, 10, 10, 10)
    assert get_rule_set("vbp.batch10")["winner_caps"] == (1, 2, 2, 3, 3, 3, 4, 5, 6, 6, 7, 8, 8, 9, 9, 10)
    assert get_rule_set("vbp.batch7")["max_winners"] == 10  # 1.3.5: batch 7's hard ceiling


@pytest.mark.parametrize("name", RULE_SETS)
def test_describe_survives_json_and_rebuilds_the_same_frozen_set(name):
    rule_set = RULE_SETS[name]
    stored = json.loads(json.dumps(rule_set.describe()))
    rebuilt = rule_set_from_description(stored)
    assert rebuilt == rule_set
    assert rebuilt.note == rule_set.note
    with pytest.raises(TypeError):
        rebuilt["volume_ratios"]["chemical"] = ("1",)  # tables stay read-only
    assert copy.deepcopy(rebuilt["volume_ratios"]) == rule_set["volume_ratios"]


def test_rebuilding_a_tampered_description_is_refused():
    stored = json.loads(json.dumps(get_rule_set("vbp.batch10").describe()))
    stored["values"]["spread_multiple"] = 1.8  # a float: money and multiples are decimal strings
    del stored["values"]["winner_caps"]
    with pytest.raises(DomainError) as caught:
        rule_set_from_description(stored)
    assert set(caught.value.errors) == {"values.spread_multiple", "values.winner_caps"}


def test_overrides_make_a_new_version_with_validated_values():
    base = get_rule_set("vbp.batch10")
    fujian = apply_overrides(
        base,
        {"spread_multiple": "2.0", "winner_caps": [1, 2, 3], "cycle_end": "2028-06-30"},
        version="2024-12-fujian",
    )
    assert fujian.version == "2024-12-fujian" and fujian.name == base.name
    assert fujian["spread_multiple"] == "2.0" and fujian["winner_caps"] == (1, 2, 3)
    assert base["spread_multiple"] == "1.8", "the original set is untouched"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"no_such_rule": "1"}, "overrides.no_such_rule"),
        ({"low_price_threshold": "0.1"}, "overrides.low_price_threshold"),  # exists, but not in batch 10's set
        ({"spread_multiple": 1.8}, "overrides.spread_multiple"),  # a float, not a decimal string
        ({"spread_multiple": "lots"}, "overrides.spread_multiple"),
        ({"payment_reduced_factor": "-0.1"}, "overrides.payment_reduced_factor"),  # negative ratio
        ({"demand_min_share": "1.2"}, "overrides.demand_min_share"),  # a share above 100 %
        ({"volume_ratios": {"chemical": ["-0.5"]}}, "overrides.volume_ratios"),
        ({"winner_caps": [1, 0, 2]}, "overrides.winner_caps"),
        ({"winner_caps": "1,2,3"}, "overrides.winner_caps"),
        ({"volume_rounding_unit": True}, "overrides.volume_rounding_unit"),
        ({"volume_rounding": "banker"}, "overrides.volume_rounding"),
        ({"tie_break": ["price"]}, "overrides.tie_break"),
        ({"cycle_end": "end of 2027"}, "overrides.cycle_end"),
        ({"low_price_thresholds": {"oral_solid": "0.1"}}, "overrides.low_price_thresholds"),
        ({"cycle_end": None}, "overrides.cycle_years"),  # 1.6: a cycle needs years or an end date
    ],
)
def test_bad_overrides_are_refused_naming_the_key(overrides, key):
    with pytest.raises(DomainError) as caught:
        apply_overrides(get_rule_set("vbp.batch10"), overrides, version="custom")
    error = caught.value
    assert error.kind == "invalid" and error.code == "invalid_overrides"
    assert error.errors.get(key), error.errors


def test_overrides_need_a_new_version():
    base = get_rule_set("vbp.batch10")
    with pytest.raises(DomainError) as caught:
        apply_overrides(base, {"spread_multiple": "2"}, version=base.version)
    assert "version" in caught.value.errors


def test_several_bad_overrides_are_all_reported():
    with pytest.raises(DomainError) as caught:
        apply_overrides(get_rule_set("vbp.batch11"), {"x": 1, "anchor_mean_share": "2"}, version="v")
    assert set(caught.value.errors) == {"overrides.x", "overrides.anchor_mean_share"}
