"""The identifiers a catalogue product carries, each checked against its published layout and normalised.

Every checker takes the text as typed (spaces and full-width characters tolerated) and returns the normalised code,
or raises :class:`CodeError` with a stable ``code`` and an English message that names the rule broken.

Sources of the layouts:

* 国药准字 approval numbers — the 2002 unified format: ``国药准字`` + one letter + 8 digits, the letter
  being H chemical drugs (化学药品), Z Chinese medicines (中药), S biological products (生物制品), J imported drugs
  repacked in China (进口分包装药品), B health drugs cleared in the 2002 review (保健药品, legacy) and F
  pharmaceutical excipients (药用辅料, legacy); the 8 digits are a 2-digit source code (or 4-digit year) and a
  serial. 《药品注册管理办法》 (2020, 国家市场监督管理总局令第27号) 第一百二十三条 adds ``国药准字H(Z、S)C`` +
  8 digits for products made in Hong Kong, Macao and Taiwan and ``国药准字H(Z、S)J`` + 8 digits for products made
  abroad. Imported drugs registered before 2020 carry no 国药准字 but an import registration number,
  ``H(Z、S)`` + 4-digit year + 4-digit serial (进口药品注册证) or ``H(Z、S)C`` + 8 digits (医药产品注册证), per
  《药品注册管理办法》 (2007, 局令第28号) 第一百七十一条; those are accepted in the same field. T (in-vitro diagnostic
  reagents) is refused: such reagents are devices here.
* Device registration numbers — 《医疗器械注册管理办法》 (2014, 局令第4号) 第七十六条, kept by the 2021 measures:
  ``×1械注×2`` + year (4) + class (1) + category (2) + serial (4); ×1 is 国 for domestic class III and every
  imported device, else the province of a domestic class II device; ×2 is 准 (domestic), 进 (imported) or 许 (Hong
  Kong, Macao, Taiwan).
* National insurance codes (医保编码) — the rulebook (0.14) asks only for unified coding. Western drugs follow the
  NHSA 23-character layout the demo data uses (X, ATC level 4, generic-name number, dosage form, strength and pack,
  enterprise); Chinese patent medicines (Z…) are checked for prefix and length only (20–23 characters), their
  layout not being at hand; consumables (C…) are the 20- or 27-character NHSA consumable codes.
* GTIN — GS1 mod-10 check digit (rulebook 5.3.2), validated with python-stdnum; shorter GTINs are right-aligned to
  GTIN-14 with leading zeros, as GS1 stores them (and as Excel drops them).
* UDI-DI — a GS1 DI is a GTIN-14 and is checked as one; DIs of the other issuing agencies (MA code, 中关村工业互联网
  ZIIOT) are alphanumeric with ``. - / : +`` and only their length and characters are checked.
* Trace product identifier — the first 7 digits of a 20-digit 码上放心 code (rulebook 5.2.1).
"""

from __future__ import annotations

import re
import unicodedata

from stdnum import ean
from stdnum.exceptions import ValidationError as StdnumError

APPROVAL_LETTERS = {
    "H": "chemical drug (化学药品)",
    "Z": "Chinese medicine (中药)",
    "S": "biological product (生物制品)",
    "J": "imported drug repacked in China (进口分包装药品)",
    "B": "health drug, legacy (保健药品)",
    "F": "pharmaceutical excipient, legacy (药用辅料)",
}
_APPROVAL = re.compile(r"国药准字(?:[HZSJBF]|[HZS][CJ])\d{8}")
_IMPORT_REGISTRATION = re.compile(r"[HZS]C?\d{8}")
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_DEVICE_REGISTRATION = re.compile(rf"(?P<office>国|[{_PROVINCES}])械注(?P<origin>[准进许])\d{{4}}(?P<cls>[23])\d{{6}}")
_WESTERN_DRUG_CODE = re.compile(r"X[A-Z]\d{2}[A-Z]{2}[A-Z]\d{3}[A-Z]\d{3}\d{9}")
_CHINESE_MEDICINE_CODE = re.compile(r"Z[A-Z0-9]{19,22}")
_CONSUMABLE_CODE = re.compile(r"C\d{19}(?:\d{7})?")
_TRACE_PRODUCT_ID = re.compile(r"\d{7}")
_UDI_DI = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-/:+]{0,63}")


class CodeError(ValueError):
    """A code broke its layout: ``code`` names the rule, the message says it in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean_text(value: object) -> str:
    """Return text with full-width characters folded (NFKC) and all white space removed."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value)))


def approval_number(value: str) -> str:
    """Return a drug approval number (国药准字…, or a pre-2020 import registration number) or raise."""
    text = clean_text(value).upper()
    if _APPROVAL.fullmatch(text) or _IMPORT_REGISTRATION.fullmatch(text):
        return text
    raise CodeError(
        "invalid_approval_number",
        f"approval number {value!r} must be 国药准字 + H, Z, S, J, B or F (or HC/ZC/SC, HJ/ZJ/SJ) + 8 digits, "
        "or an import registration number H/Z/S(C) + 8 digits",
    )


def registration_number(value: str) -> str:
    """Return a medical-device registration number (e.g. 国械注准20153130456) or raise."""
    text = clean_text(value)
    match = _DEVICE_REGISTRATION.fullmatch(text)
    if match is None:
        raise CodeError(
            "invalid_registration_number",
            f"registration number {value!r} must be 国 or a province, 械注, 准/进/许, year, class 2 or 3, "
            "category and serial (e.g. 国械注准20153130456)",
        )
    if match["office"] != "国" and (match["origin"] != "准" or match["cls"] != "2"):
        raise CodeError(
            "invalid_registration_number",
            f"registration number {value!r}: a province registers only domestic class II devices; "
            "class III and imported devices carry 国",
        )
    return text


def insurance_code(value: str, *, consumable: bool) -> str:
    """Return a national insurance code (医保药品编码 for drugs, 医保医用耗材代码 for consumables) or raise."""
    text = clean_text(value).upper()
    if consumable:
        if _CONSUMABLE_CODE.fullmatch(text):
            return text
        raise CodeError(
            "invalid_insurance_code",
            f"insurance code {value!r} of a consumable must be C + 19 or 26 digits (20 or 27 characters)",
        )
    if _WESTERN_DRUG_CODE.fullmatch(text) or _CHINESE_MEDICINE_CODE.fullmatch(text):
        return text
    raise CodeError(
        "invalid_insurance_code",
        f"insurance code {value!r} of a drug must be X + 22 characters in the NHSA layout (e.g. "
        "XC10AAA101A001010101351) or Z + 19 to 22 letters and digits",
    )


def gtin(value: str, *, what: str = "GTIN") -> str:
    """Return a GTIN as 14 digits with a correct GS1 check digit, or raise."""
    text = clean_text(value)
    if text.endswith(".0") and text[:-2].isdigit():  # a number cell that went through a float
        text = text[:-2]
    if not text.isdigit() or len(text) not in (8, 12, 13, 14):
        raise CodeError("invalid_gtin", f"{what} {value!r} must be 8, 12, 13 or 14 digits")
    text = text.zfill(14)
    try:
        ean.validate(text)
    except StdnumError as exc:
        raise CodeError("invalid_gtin", f"{what} {value!r} has a wrong GS1 check digit (the last digit)") from exc
    return text


def udi_di(value: str) -> str:
    """Return a device identifier (UDI-DI): a GS1 GTIN-14 when numeric, else an alphanumeric DI; or raise."""
    text = clean_text(value)
    if text.isdigit() or (text.endswith(".0") and text[:-2].isdigit()):
        return gtin(text, what="UDI-DI")
    if _UDI_DI.fullmatch(text):
        return text
    raise CodeError(
        "invalid_udi_di", f"UDI-DI {value!r} must be a GS1 GTIN-14 or up to 64 letters, digits and . - / : +"
    )


def trace_product_id(value: str) -> str:
    """Return the 7-digit trace product identifier (the first 7 digits of a 20-digit trace code) or raise."""
    text = clean_text(value)
    if _TRACE_PRODUCT_ID.fullmatch(text):
        return text
    raise CodeError("invalid_trace_product_id", f"trace product identifier {value!r} must be exactly 7 digits")
