"""Trace-code parsing: the 20-digit Chinese code and GS1 element strings (RULEBOOK 5.2, 5.3)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from hypothesis import given
from hypothesis import strategies as st
from stdnum.ean import calc_check_digit

from core.errors import INVALID, DomainError
from trace.codes import CSET82, GS, GTIN_LENGTH, InvalidCode, TraceCode, parse

GS1_DICTIONARY = Path(__file__).resolve().parents[3] / "shared" / "standards" / "gs1" / "gs1-syntax-dictionary.txt"


def gtin14(payload13: str) -> str:
    """Build a GTIN-14 with a valid check digit from 13 payload digits."""
    return payload13 + calc_check_digit(payload13)


GTIN = gtin14("0690123456789")  # a GS1 China GTIN-13 padded to 14 digits
IMPORTED_GTIN = gtin14("1401234567890")  # indicator digit 1, GS1 Germany prefix
CN20 = "81234567890123456789"


# --- the 20-digit Chinese code -------------------------------------------------------------------------------


def test_cn20_splits_product_serial_and_verification_digits():
    code = parse(CN20)
    assert code == TraceCode(kind="cn20", product_id="8123456", serial="789012345", verification="6789")
    assert code.key == CN20
    assert str(code) == CN20
    assert code.gtin is None and code.batch is None and code.expiry is None


def test_cn20_from_keyboard_wedge_with_trailing_crlf_and_spaces():
    assert parse(f"  {CN20}\r\n").key == CN20


def test_cn20_typed_with_full_width_digits_from_a_chinese_ime():
    full_width = "".join(chr(ord("０") + int(d)) for d in CN20)
    assert parse(full_width).key == CN20


def test_cn20_behind_a_plain_code128_symbology_identifier():
    assert parse(f"]C0{CN20}").key == CN20


def test_20_digits_starting_with_01_read_as_the_chinese_code():
    digits = "01" + GTIN + "2112"  # also valid GS1, but without ]d2 the 20-digit code wins (documented)
    assert parse(digits).kind == "cn20"


@pytest.mark.parametrize("digits", [CN20[:-1], CN20 + "0"])
def test_19_or_21_digits_rejected_naming_the_length(digits):
    with pytest.raises(InvalidCode, match=f"20 digits; found {len(digits)} digits") as exc:
        parse(digits)
    assert exc.value.code == "bad_length"


@pytest.mark.parametrize("ean", ["6901234567892", "]E06901234567892", "4006381333931"])
def test_ean13_commodity_barcode_rejected_as_shangpinma(ean):
    with pytest.raises(InvalidCode, match="commodity barcode \\(商品码\\)") as exc:
        parse(ean)
    assert exc.value.code == "commodity_barcode"


@pytest.mark.parametrize("text", ["", "   \r\n", "]d2", f"]d2{GS}", "hello", "8123456789-0123456789", "８１２３"])
def test_garbage_rejected_with_what_was_found(text):
    with pytest.raises(InvalidCode) as exc:
        parse(text)
    assert str(exc.value)


def test_letters_in_a_20_character_code_are_named():
    with pytest.raises(InvalidCode, match="'O'"):
        parse("8123456789O123456789")


def test_invalid_code_is_a_value_error_and_a_domain_error_of_kind_invalid():
    with pytest.raises(ValueError) as exc:
        parse("123")
    assert isinstance(exc.value, DomainError)
    assert exc.value.kind == INVALID
    assert exc.value.errors == {"trace_code": [str(exc.value)]}


def test_unknown_symbology_identifier_rejected():
    with pytest.raises(InvalidCode, match="symbology identifier"):
        parse(f"]X9{CN20}")


# --- GS1 ------------------------------------------------------------------------------------------------------


def test_datamatrix_scan_with_symbology_identifier_and_gs():
    code = parse(f"]d201{GTIN}17261231101234AB{GS}21Sn0001xY\r\n")
    assert code == TraceCode(kind="gs1", gtin=GTIN, serial="Sn0001xY", batch="1234AB", expiry=dt.date(2026, 12, 31))
    assert code.key == GTIN + "Sn0001xY"
    assert code.product_id is None


@pytest.mark.parametrize("prefix", ["", "]d2", "]C1", "]Q3", f"]d2{GS}"])
def test_gs1_symbology_identifiers_and_leading_fnc1(prefix):
    assert parse(f"{prefix}01{GTIN}21ABC").key == GTIN + "ABC"


def test_bracketed_form():
    code = parse(f"(01){IMPORTED_GTIN}(17)270531(10)L-42/B(21)s3r1aL")
    assert code == TraceCode(
        kind="gs1", gtin=IMPORTED_GTIN, serial="s3r1aL", batch="L-42/B", expiry=dt.date(2027, 5, 31)
    )


def test_bracketed_form_typed_with_full_width_brackets_and_spaces():
    assert parse(f"（01）{GTIN} （21）ABC").key == GTIN + "ABC"


@pytest.mark.parametrize(
    "raw",
    [
        f"01{GTIN}1726123110LOT7{GS}21SER9",
        f"21SER9{GS}01{GTIN}1726123110LOT7",
        f"10LOT7{GS}17261231{GS}21SER9{GS}01{GTIN}",
        f"1726123121SER9{GS}10LOT7{GS}01{GTIN}",
        f"01{GTIN}\u241d1726123110LOT7\u241d21SER9",  # the printable GS stand-in some wedges type
    ],
)
def test_raw_fields_in_any_order(raw):
    assert parse(raw) == TraceCode(kind="gs1", gtin=GTIN, serial="SER9", batch="LOT7", expiry=dt.date(2026, 12, 31))


def test_all_digit_gs1_with_expiry_first_and_numeric_serial():
    code = parse(f"1726123101{GTIN}21000123456789")
    assert code.serial == "000123456789"


@pytest.mark.parametrize(
    ("yymmdd", "expected"),
    [("260200", dt.date(2026, 2, 28)), ("280200", dt.date(2028, 2, 29)), ("270400", dt.date(2027, 4, 30))],
)
def test_expiry_day_00_is_the_last_day_of_the_month(yymmdd, expected):
    code = parse(f"01{GTIN}17{yymmdd}21A")
    assert code.expiry == expected
    assert parse(code.human()) == code


@pytest.mark.parametrize("yymmdd", ["260230", "261301", "2612"])
def test_impossible_expiry_rejected(yymmdd):
    with pytest.raises(InvalidCode):
        parse(f"(01){GTIN}(17){yymmdd}(21)A")


def test_serial_case_is_preserved():
    lower, upper = parse(f"]d201{GTIN}21abcDEF"), parse(f"]d201{GTIN}21ABCDEF")
    assert lower.serial == "abcDEF"
    assert lower.key != upper.key


def test_bad_gtin_check_digit_rejected_naming_it():
    bad = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    with pytest.raises(InvalidCode, match="check digit") as exc:
        parse(f"]d201{bad}21ABC")
    assert exc.value.code == "bad_gtin_check_digit"
    assert bad in str(exc.value)


def test_missing_serial_rejected():
    with pytest.raises(InvalidCode, match="no serial \\(21\\)") as exc:
        parse(f"]d201{GTIN}1726123110LOT7")
    assert exc.value.code == "missing_serial"


def test_missing_gtin_rejected():
    with pytest.raises(InvalidCode, match="no GTIN \\(01\\)"):
        parse("(17)261231(21)ABC")


def test_repeated_ai_rejected():
    with pytest.raises(InvalidCode, match="appears twice"):
        parse(f"]d201{GTIN}21A{GS}21B")


def test_serial_longer_than_20_characters_rejected():
    with pytest.raises(InvalidCode):
        parse(f"(01){GTIN}(21){'A' * 21}")


def test_character_outside_set_82_rejected():
    with pytest.raises(InvalidCode, match="character set 82"):
        parse(f"]d201{GTIN}21AB#C")


# --- lost GS separators ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "swallowed"),
    [
        (f"]d201{GTIN}10ABC12321XYZ", "(21)"),  # batch swallowed the serial
        (f"]d201{GTIN}21XYZ17261231", "(17)"),  # serial swallowed the expiry
        (f"]d201{GTIN}21XYZ1726123110LOT", "(17)"),  # ... and the batch after it
        (f"]d210L01{GTIN}21X", "(01)"),  # batch swallowed the GTIN and the serial
        (f"]d201{GTIN}10LOT1234567821SERIAL42", "runs into"),  # over 20 characters: cut, then runs on
        (f"]d201{GTIN}1727120021SER12310LOT9", "(10)"),  # serial swallowed the batch after it
        # A pharmaceutical pack carries its batch: a scan without one whose serial holds "10…" is refused as
        # ambiguous rather than read as a serial that may have swallowed the batch.
        (f"01{GTIN}1726123121A10B", "(10)"),
        (f"]d201{GTIN}172612312121102110", "(10)"),
    ],
)
def test_lost_gs_separator_rejected_saying_so(raw, swallowed):
    with pytest.raises(InvalidCode, match="GS separator appears lost") as exc:
        parse(raw)
    assert swallowed in str(exc.value)
    assert exc.value.code == "gs_separator_lost"


@pytest.mark.parametrize(
    ("raw", "batch", "serial"),
    [
        (f"]d201{GTIN}1726123110LOT2110{GS}21A21B10C", "LOT2110", "A21B10C"),
        (f"]d201{GTIN}10B17{GS}21XYZ17261231", "B17", "XYZ17261231"),  # separators present: serial is data
        (f"]d201{GTIN}172612312110{GS}10LOT", "LOT", "10"),
        (f"]d201{GTIN}172612312121992117", None, "21992117"),  # serial last, no separator needed
        (f"]d201{GTIN}17261231{GS}21A10B", None, "A10B"),  # separators transmitted: a missing batch is missing
    ],
)
def test_serials_and_batches_containing_ai_digits_still_parse(raw, batch, serial):
    code = parse(raw)
    assert (code.batch, code.serial) == (batch, serial)


# --- round trips ----------------------------------------------------------------------------------------------

# "(" cannot travel inside the bracketed form: biip reads it as the start of the next AI (documented).
DATA = st.text(alphabet=sorted(CSET82 - {"("}), min_size=1, max_size=20)


@given(
    payload=st.text(alphabet="0123456789", min_size=13, max_size=13),
    batch=st.none() | DATA,
    serial=DATA,
    expiry=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 12, 31)),
    order=st.permutations(["01", "17", "10", "21"]),
    prefix=st.sampled_from(["", "]d2", "]C1", "]Q3"]),
)
def test_gs_separated_and_bracketed_encodings_agree(payload, batch, serial, expiry, order, prefix):
    gtin = gtin14(payload)
    values = {"01": gtin, "17": f"{expiry:%y%m%d}", "10": batch, "21": serial}
    fields = [(ai, values[ai]) for ai in order if values[ai] is not None]
    raw = prefix
    for index, (ai, value) in enumerate(fields):
        last = index == len(fields) - 1
        raw += f"{ai}{value}" + (GS if ai in ("10", "21") and not last else "")
    bracketed = "".join(f"({ai}){value}" for ai, value in fields)

    expected = TraceCode(kind="gs1", gtin=gtin, serial=serial, batch=batch, expiry=expiry)
    assert parse(raw) == expected
    assert parse(bracketed) == expected
    assert parse(raw).key == parse(bracketed).key == gtin + serial
    # GTIN-14 is fixed width, so a key splits back into exactly one (GTIN, serial) pair: no collisions.
    assert (expected.key[:GTIN_LENGTH], expected.key[GTIN_LENGTH:]) == (gtin, serial)
    assert parse(expected.human()) == expected


@given(st.text(alphabet="0123456789", min_size=20, max_size=20))
def test_any_20_digits_are_a_chinese_code_keyed_by_themselves(digits):
    code = parse(digits)
    assert (code.kind, code.key, str(code), code.product_id) == ("cn20", digits, digits, digits[:7])


# --- the official AI table ------------------------------------------------------------------------------------


def _dictionary_entries() -> dict[str, tuple[bool, str]]:
    """Read AI -> (fixed length without FNC1, first format component) from the GS1 syntax dictionary."""
    entries: dict[str, tuple[bool, str]] = {}
    for line in GS1_DICTIONARY.read_text(encoding="utf-8").splitlines():
        tokens = line.split("#", 1)[0].split()
        if not tokens or not tokens[0][0].isdigit():
            continue
        flags = tokens[1] if not tokens[1][0].isalpha() and not tokens[1].startswith("[") else ""
        spec = tokens[2] if flags else tokens[1]
        entries[tokens[0]] = ("*" in flags, spec.split(",")[0])
    return entries


@pytest.mark.skipif(not GS1_DICTIONARY.exists(), reason=f"GS1 syntax dictionary not available at {GS1_DICTIONARY}")
@pytest.mark.parametrize(
    ("ai", "fixed", "spec"),
    [("01", True, "N14"), ("17", True, "N6"), ("10", False, "X..20"), ("21", False, "X..20")],
)
def test_ai_lengths_relied_on_match_the_gs1_syntax_dictionary(ai, fixed, spec):
    assert _dictionary_entries()[ai] == (fixed, spec)
    # biip's table, which does the parsing, agrees: fixed length means no separator required.
    biip_ai = GS1ApplicationIdentifier.extract(ai)
    assert biip_ai.separator_required is not fixed
    assert biip_ai.format == f"N2+{spec}"
