"""Parse a scanned drug trace code (药品追溯码) into a :class:`TraceCode` (RULEBOOK 5.1–5.3).

Two families are accepted:

* ``cn20`` — the 20-digit Chinese code (码上放心): 7-digit product identifier, 9-digit serial and 4
  verification digits (5.2.1). Only the format is checked; the verification algorithm is not public (5.2.2),
  so capture checks the product identifier against the registered trade items instead.
* ``gs1`` — a GS1 element string as carried by a DataMatrix, GS1-128 or GS1 QR code (5.3), either raw
  (``01…17…10…<GS>21…``, fields in any order) or bracketed (``(01)…(17)…(10)…(21)…``). Parsing is biip's.

Decisions:

* Hygiene. The text is NFKC-normalised (full-width digits and brackets from Chinese IMEs become ASCII) and
  stripped of surrounding whitespace, including the CR/LF a keyboard-wedge scanner appends. A leading
  symbology identifier is accepted: ``]d2``, ``]C1``, ``]Q3`` mean GS1 data; ``]C0``, ``]E0``, ``]d1``,
  ``]Q1`` mean plain data (a 20-digit code in Code 128, an EAN-13). Any other ``]xx`` is refused.
* Separators. ASCII GS (0x1D) and its printable stand-in ``␝`` (U+241D), which some wedge set-ups type, are
  accepted; biip's ``separator_chars`` takes single characters only, so multi-character stand-ins such as
  ``<GS>`` are not. Neither character can occur in GS1 data (character set 82), so accepting both is safe.
* Routing. ``(`` first means bracketed GS1; a GS1 symbology identifier means raw GS1. Without an
  identifier, an all-digit scan of 20 digits is ``cn20`` even if it would also read as GS1 (``01`` + GTIN
  + a 2-digit serial): the Chinese code is the common case (5.2.5) and real GS1 scans carry ``]d2`` or a
  serial that is longer. 13 digits are refused as an EAN-13 commodity barcode (商品码, 5.2.4). Other
  all-digit scans are read as GS1 when they start with a watched AI (below), else refused naming the
  length. Text with non-digits is read as GS1 when it starts with two digits.
* GS1 content. (01) GTIN-14 with a valid check digit (5.3.2) and (21) serial are required — a code without
  a serial names a product, not a pack. (17) expiry is optional but must be a real date; day ``00`` is the
  last day of the month and the century follows GS1's sliding window (biip). Batch and serial are 1–20
  characters of set 82 (biip's patterns). An AI repeated in one scan is refused. Other AIs are ignored.
* Lost separators. A scanner that drops GS makes a variable-length field swallow what follows. This is
  refused, with a message saying so, when (a) a variable-length field runs straight into more data (it hit
  its 20-character limit), or (b) (01) or (21) is missing, or (17) is missing from a scan that has no
  separator at all, and the tail of a variable-length field, from some position after its first
  character, reads in full (biip) as element strings of AIs 01/10/11/15/17/21/30 that include the missing
  AI with valid content (GTIN check digit, real date). Legitimate serials containing digits such as
  ``21`` or ``10`` are unaffected: the check only runs when an AI is missing. The remaining risk is a scan
  with no expiry, no separator and a serial ending in ``17`` + a valid YYMMDD; drug packs carry an expiry.
* Keys. ``cn20``: the 20 digits. ``gs1``: GTIN-14 + serial; the GTIN is always 14 digits, so the split is
  unambiguous and two different (GTIN, serial) pairs never share a key. A ``gs1`` key of exactly 20 digits
  (a 6-digit numeric serial) could equal some ``cn20`` key, so stores that hold both kinds should key on
  ``(kind, key)``. Batch and expiry are not part of the key (5.3.3). For ``cn20`` they are ``None``; callers
  who read them off the label attach them with ``dataclasses.replace``.
* The bracketed form cannot carry ``(`` inside a batch or serial (biip reads it as the next AI).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import Literal

from biip import ParseConfig, ParseError
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message

from core.errors import INVALID, DomainError

GS = "\x1d"
SEPARATORS = (GS, "\u241d")
GS1_SYMBOLOGIES = frozenset({"]d2", "]C1", "]Q3"})
PLAIN_SYMBOLOGIES = frozenset({"]C0", "]E0", "]d1", "]Q1"})
CN20_LENGTH = 20
CN20_PRODUCT_ID_LENGTH = 7
CN20_SERIAL_LENGTH = 9
EAN13_LENGTH = 13
GTIN_LENGTH = 14
# GS1 character set 82: the only characters allowed in batch and serial (GS1 General Specifications 7.11).
CSET82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
# AIs whose appearance inside another field betrays a lost separator (the ones drug packs carry).
WATCHED_AIS = frozenset({"01", "10", "11", "15", "17", "21", "30"})
AI_NAMES = {"01": "GTIN", "10": "batch", "17": "expiry", "21": "serial"}

_CONFIG = ParseConfig(separator_chars=SEPARATORS)


class InvalidCode(DomainError, ValueError):
    """A scan that is not a valid drug trace code; the message says what is wrong."""

    def __init__(self, message: str, *, code: str = "invalid_trace_code") -> None:
        super().__init__(INVALID, message, code=code, errors={"trace_code": [message]})


@dataclass(frozen=True)
class TraceCode:
    """One pack's trace code: a 20-digit Chinese code or a GS1 (GTIN, serial) with batch and expiry."""

    kind: Literal["cn20", "gs1"]
    serial: str
    gtin: str | None = None
    product_id: str | None = None
    verification: str | None = None
    batch: str | None = None
    expiry: dt.date | None = None

    @property
    def key(self) -> str:
        """Return the canonical string that identifies the pack (20 digits, or GTIN-14 + serial)."""
        if self.kind == "cn20":
            return f"{self.product_id}{self.serial}{self.verification}"
        return f"{self.gtin}{self.serial}"

    def human(self) -> str:
        """Render the code as printed under the barcode: 20 digits, or the bracketed GS1 form."""
        if self.kind == "cn20":
            return self.key
        parts = [f"(01){self.gtin}"]
        if self.expiry is not None:
            parts.append(f"(17){self.expiry:%y%m%d}")
        if self.batch is not None:
            parts.append(f"(10){self.batch}")
        parts.append(f"(21){self.serial}")
        return "".join(parts)

    def __str__(self) -> str:
        return self.human()


def parse(text: str) -> TraceCode:
    """Parse one scan or typed code into a TraceCode, raising InvalidCode with the reason."""
    value = unicodedata.normalize("NFKC", text).strip()
    if not value:
        raise InvalidCode("empty scan: no trace code was read", code="empty_scan")
    symbology = None
    if value.startswith("]"):
        symbology, value = value[:3], value[3:].strip()
        if symbology not in GS1_SYMBOLOGIES | PLAIN_SYMBOLOGIES:
            raise InvalidCode(
                f"unsupported symbology identifier {symbology!r}: expected a GS1 DataMatrix (]d2), "
                "GS1-128 (]C1), GS1 QR (]Q3) or a plain 20-digit code",
                code="unsupported_symbology",
            )
        if not value.strip("".join(SEPARATORS)):
            raise InvalidCode(f"empty scan: only the symbology identifier {symbology} was read", code="empty_scan")
    if value.startswith("("):
        return _from_elements(_parse_bracketed(value), delimited=True)
    if symbology in GS1_SYMBOLOGIES:
        return _parse_raw_gs1(value)
    if value.isascii() and value.isdigit():
        if symbology is None and len(value) not in (CN20_LENGTH, EAN13_LENGTH) and value[:2] in WATCHED_AIS:
            return _parse_digits_as_gs1(value)
        return _parse_digits(value)
    not_a_code = f"not a drug trace code: expected 20 digits or a GS1 element string, found {_describe(value)}"
    if symbology is None and value[:2].isascii() and value[:2].isdigit():
        try:
            return _parse_raw_gs1(value)
        except InvalidCode as exc:
            if exc.code != "invalid_gs1":
                raise
            raise InvalidCode(f"{not_a_code}; as GS1: {exc}", code="bad_format") from exc
    raise InvalidCode(not_a_code, code="bad_format")


def _parse_digits(digits: str) -> TraceCode:
    """Read an all-digit scan as the 20-digit Chinese code."""
    if len(digits) == CN20_LENGTH:
        serial_end = CN20_PRODUCT_ID_LENGTH + CN20_SERIAL_LENGTH
        return TraceCode(
            kind="cn20",
            product_id=digits[:CN20_PRODUCT_ID_LENGTH],
            serial=digits[CN20_PRODUCT_ID_LENGTH:serial_end],
            verification=digits[serial_end:],
        )
    if len(digits) == EAN13_LENGTH:
        origin = " (prefix 69: GS1 China)" if digits.startswith("69") else ""
        raise InvalidCode(
            f"{digits} is a 13-digit EAN-13 commodity barcode (商品码){origin}, not a drug trace code "
            "(药品追溯码): scan the 20-digit trace code or the 2D code on the pack",
            code="commodity_barcode",
        )
    raise InvalidCode(
        f"a Chinese drug trace code has {CN20_LENGTH} digits; found {len(digits)} digits in {digits!r}",
        code="bad_length",
    )


def _parse_digits_as_gs1(digits: str) -> TraceCode:
    """Read an all-digit scan without symbology identifier as GS1, else report its length."""
    try:
        return _parse_raw_gs1(digits)
    except InvalidCode as exc:
        if digits.startswith("01"):
            raise
        raise InvalidCode(
            f"a Chinese drug trace code has {CN20_LENGTH} digits; found {len(digits)} digits in {digits!r} "
            f"(not a GS1 code either: {exc})",
            code="bad_length",
        ) from exc


def _parse_bracketed(value: str) -> list[GS1ElementString]:
    """Read the bracketed (HRI) form with biip."""
    try:
        return list(GS1Message.parse_hri(value, config=_CONFIG).element_strings)
    except ParseError as exc:
        raise InvalidCode(f"not a valid bracketed GS1 code: {exc}", code="invalid_gs1") from exc


def _parse_raw_gs1(value: str) -> TraceCode:
    """Read a raw GS1 element string and build the TraceCode."""
    body = value.strip("".join(SEPARATORS))  # a leading FNC1 or trailing GS is not a field separator
    return _from_elements(_split_raw(body), delimited=any(sep in body for sep in SEPARATORS))


def _split_raw(value: str) -> list[GS1ElementString]:
    """Split a raw GS1 element string with biip, refusing a variable field that runs into the next one."""
    # GS1Message.parse does the same loop but hides whether each variable-length field was terminated,
    # which is exactly what tells a lost separator from a short value.
    seps = "".join(SEPARATORS)
    rest = value
    elements: list[GS1ElementString] = []
    while rest:
        try:
            element = GS1ElementString.extract(rest, config=_CONFIG)
        except ParseError as exc:
            raise InvalidCode(f"not a valid GS1 element string at {rest!r}: {exc}", code="invalid_gs1") from exc
        elements.append(element)
        rest = rest[len(element) :]
        if element.ai.separator_required and rest and rest[0] not in seps:
            label = f"{_name(element.ai.ai)} ({element.ai.ai}) {element.value!r}"
            if rest[0] not in CSET82:
                raise InvalidCode(
                    f"character {rest[0]!r} after {label} is not allowed in GS1 data (character set 82)",
                    code="invalid_gs1",
                )
            raise InvalidCode(
                f"{label} runs into {rest!r} without a GS separator: the GS separator appears lost "
                "(check the scanner transmits GS/FNC1), or the value is longer than its maximum",
                code="gs_separator_lost",
            )
        rest = rest.lstrip(seps)
    return elements


def _from_elements(elements: list[GS1ElementString], *, delimited: bool) -> TraceCode:
    """Check the GS1 element strings of one scan and build the TraceCode."""
    found: dict[str, GS1ElementString] = {}
    for element in elements:
        ai = element.ai.ai
        if ai in found:
            raise InvalidCode(f"AI ({ai}) appears twice in one scan", code="invalid_gs1")
        found[ai] = element

    gtin = found.get("01")
    if gtin is None:
        _refuse_if_swallowed(elements, "01")
        raise InvalidCode("GS1 code has no GTIN (01): it does not identify a product", code="missing_gtin")
    if gtin.gtin_error:
        raise InvalidCode(f"bad GTIN check digit in (01) {gtin.value}: {gtin.gtin_error}", code="bad_gtin_check_digit")
    serial = found.get("21")
    if serial is None:
        _refuse_if_swallowed(elements, "21")
        raise InvalidCode(
            "GS1 code has no serial (21): without a serial it cannot identify a single pack",
            code="missing_serial",
        )
    expiry = found.get("17")
    if expiry is None and not delimited:
        _refuse_if_swallowed(elements, "17")
    batch = found.get("10")
    if batch is None and not delimited:  # a pharmaceutical pack carries its batch: is it inside another field?
        _refuse_if_swallowed(elements, "10")
    return TraceCode(
        kind="gs1",
        gtin=gtin.value,
        serial=serial.value,
        batch=batch.value if batch else None,
        expiry=expiry.date if expiry else None,
    )


def _refuse_if_swallowed(elements: list[GS1ElementString], ai: str) -> None:
    """Raise InvalidCode if the missing AI sits inside a variable-length field (a lost GS separator)."""
    for element in elements:
        if not element.ai.separator_required:
            continue
        for start in range(1, len(element.value) - len(ai)):
            if element.value.startswith(ai, start) and _reads_as_elements(element.value[start:]):
                raise InvalidCode(
                    f"GS separator appears lost: {_name(element.ai.ai)} ({element.ai.ai}) {element.value!r} "
                    f"contains ({ai}) {element.value[start + len(ai) :]!r}; the scanner must transmit "
                    "GS (FNC1) after variable-length fields",
                    code="gs_separator_lost",
                )


def _reads_as_elements(tail: str) -> bool:
    """Tell whether the tail of a field reads in full as valid element strings of watched AIs."""
    try:
        elements = GS1Message.parse(tail, config=_CONFIG).element_strings
    except ParseError:
        return False
    return all(e.ai.ai in WATCHED_AIS and not e.gtin_error for e in elements)


def _name(ai: str) -> str:
    """Name an AI for messages."""
    return AI_NAMES.get(ai, "field")


def _describe(value: str) -> str:
    """Describe what was scanned: its length and the kinds of characters in it."""
    digits = sum(c in "0123456789" for c in value)
    others = sorted({c for c in value if c not in "0123456789"})
    shown = ", ".join(repr(c) for c in others[:8]) + (", …" if len(others) > 8 else "")
    return f"{len(value)} characters ({digits} digits; other characters: {shown}) in {value[:40]!r}"
