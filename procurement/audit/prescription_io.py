"""The layout of prescription files and rows, and the reading of each cell into typed values (rulebook 0.8, 7).

Hospitals export dispensing records from their own systems, so headers arrive in Chinese or English and in any
order (:data:`COLUMNS`); columns the platform does not read (a patient's name, say) are ignored and never stored.
Each cell is parsed on its own and every problem is named with its row, column, value and a stable code; whether
the rows agree with each other and with the registry is the import service's business
(:mod:`procurement.audit.prescriptions`). The patient identifier is pseudonymised here, the moment it is read.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core.pseudonym import pseudonymise
from procurement import spreadsheets as sheets
from procurement.audit.prescription_models import DrugClass, Setting
from trace.codes import InvalidCode
from trace.codes import parse as parse_trace_code

MASK = "***"  # what a report shows in place of a patient identifier (rulebook 0.17)
# Bounds that keep a mistyped cell out of the database's ranges (not policy: no rule caps a quantity).
MAX_QUANTITY, MAX_AMOUNT, MAX_WHOLE = Decimal(1_000_000), Decimal(10**12), 9_999
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")  # 居民身份证号 layout
MAX_TEXT = {
    "prescription_no": 64,
    "patient_id": 64,
    "physician_code": 32,
    "department": 64,
    "product_code": 64,
    "diagnosis_code": 32,
    "case_id": 64,
}


@dataclass(frozen=True)
class Column:
    """One accepted column: the field it fills, its Chinese and English headers, and other accepted headers."""

    field: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    note: str = ""


COLUMNS: tuple[Column, ...] = (
    Column(
        "prescription_no",
        "处方号",
        "prescription_no",
        ("处方编号", "处方单号", "医嘱号", "prescription number"),
        True,
        "the hospital system's number; with the line number it identifies a row",
    ),
    Column(
        "line_no",
        "行号",
        "line_no",
        ("明细序号", "明细行号", "line number"),
        False,
        "whole number ≥ 1; empty column: lines are numbered in file order",
    ),
    Column(
        "patient_id",
        "患者ID",
        "patient_id",
        ("患者身份证号", "身份证号", "患者编号", "病人ID", "就诊卡号", "医保卡号", "patient"),
        True,
        "pseudonymised on arrival with a keyed hash; never stored",
    ),
    Column(
        "physician_code",
        "医师编码",
        "physician_code",
        ("医生编码", "医师工号", "开方医师编码", "physician"),
        True,
        "a physician in the hospital's registry",
    ),
    Column("department", "科室", "department", ("科室编码", "开方科室"), False, "empty: the physician's department"),
    Column("setting", "就诊类型", "setting", ("门急诊类型", "就诊类别"), True, "门诊, 急诊 or 住院"),
    Column(
        "prescribed_on",
        "开具日期",
        "prescribed_on",
        ("处方日期", "开方日期", "date"),
        True,
        "YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or YYYY年M月D日",
    ),
    Column(
        "product_code",
        "药品编码",
        "product_code",
        ("医保编码", "耗材编码", "UDI-DI", "GTIN"),
        False,
        "the product's insurance code (医保编码), UDI-DI or GTIN; or give 产品ID",
    ),
    Column(
        "product_id",
        "产品ID",
        "product_id",
        ("平台产品ID", "platform product id"),
        False,
        "the platform catalogue's product id",
    ),
    Column(
        "quantity",
        "数量",
        "quantity",
        ("发药数量", "数量(盒)"),
        True,
        "packs, above 0; a split pack (拆零) as a fraction, e.g. 0.5",
    ),
    Column(
        "days_supply",
        "天数",
        "days_supply",
        ("用药天数", "days"),
        True,
        "whole number ≥ 1; may be empty on ward orders and consumable lines",
    ),
    Column("amount", "金额", "amount", ("总金额", "金额(元)"), True, "yuan, not negative"),
    Column("chronic", "慢病", "chronic", ("是否慢病", "慢性病"), False, "是/否: a stable chronic patient"),
    Column("diagnosis_code", "诊断编码", "diagnosis_code", ("诊断代码", "ICD编码", "ICD-10"), False),
    Column("case_id", "住院号", "case_id", ("病例号", "病案号"), False, "the inpatient case"),
    Column(
        "reason",
        "超量理由",
        "reason",
        ("延长理由", "超量原因"),
        False,
        "any text: a reason for exceeding the day limit is recorded (the text is not stored)",
    ),
    Column("reason_recorded", "已注明理由", "reason_recorded", ("是否注明理由",), False, "是/否"),
    Column("abnormal", "超常处方", "abnormal", ("是否超常",), False, "是/否: judged 超常 by prescription review"),
    Column("abnormal_justified", "超常理由充分", "abnormal_justified", ("超常有正当理由",), False, "是/否"),
    Column("trace_code", "追溯码", "trace_code", ("药品追溯码",), False, "the pack's trace code, if scanned"),
    Column(
        "drug_class",
        "药品类别",
        "drug_class",
        ("特殊药品类别", "管制类别"),
        False,
        "empty, or 麻醉药品, 一类精神药品, 二类精神药品, 毒性药品, 放射性药品, 易制毒, 抗菌药物, 特殊储存",
    ),
)

BY_KEY: dict[str, Column] = {}
for _column in COLUMNS:
    for _text in (_column.zh, _column.en, *_column.aliases):
        BY_KEY.setdefault(sheets.header_key(_text), _column)

SETTING_WORDS = {
    Setting.OUTPATIENT: ("门诊", "outpatient", "mz", "o"),
    Setting.EMERGENCY: ("急诊", "emergency", "jz", "e"),
    Setting.INPATIENT: ("住院", "inpatient", "zy", "i", "病房"),
}
CLASS_WORDS = {
    DrugClass.NARCOTIC: ("麻醉药品", "麻醉"),
    DrugClass.PSYCHOTROPIC_1: ("第一类精神药品", "一类精神药品", "一类精神", "精一"),
    DrugClass.PSYCHOTROPIC_2: ("第二类精神药品", "二类精神药品", "二类精神", "精二"),
    DrugClass.TOXIC: ("医疗用毒性药品", "毒性药品", "毒性"),
    DrugClass.RADIOPHARMACEUTICAL: ("放射性药品", "放射性"),
    DrugClass.PRECURSOR: ("药品类易制毒化学品", "易制毒", "易制毒化学品"),
    DrugClass.ANTIMICROBIAL: ("抗菌药物", "抗菌药", "抗生素"),
    DrugClass.SPECIAL_STORAGE: ("特殊储存", "特殊储存要求"),
}
_SETTING_OF = {w.lower(): s.value for s, words in SETTING_WORDS.items() for w in (*words, s.value)}
_CLASS_OF = {w.lower(): c.value for c, words in CLASS_WORDS.items() for w in (*words, c.value)}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日")
_TIME_TAIL = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


class CellProblem(ValueError):
    """One cell broke a rule: ``code`` names it, ``params`` carries the particulars a message may cite."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.params = code, message, params


def map_header(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Return the index of each known column found and the headers that were ignored (duplicates raise)."""
    found: dict[str, int] = {}
    ignored: list[str] = []
    for index, text in enumerate(header):
        column = BY_KEY.get(sheets.header_key(text)) if text else None
        if column is None:
            ignored.append(text)
        elif column.field in found:
            raise CellProblem(
                "duplicate_column",
                f"column {text!r} repeats {header[found[column.field]]!r}",
                index=index,
                first=header[found[column.field]],
            )
        else:
            found[column.field] = index
    return found, [text for text in ignored if text]


def missing_columns(found: dict[str, int]) -> list[Column]:
    """Return the required columns absent from a header (a product needs a code or a platform id)."""
    missing = [c for c in COLUMNS if c.required and c.field not in found]
    if "product_code" not in found and "product_id" not in found:
        missing.append(next(c for c in COLUMNS if c.field == "product_code"))
    return missing


def text(value: str, field: str) -> str:
    """Return a trimmed, NFKC-normalised text cell, refusing one longer than its column allows."""
    cleaned = unicodedata.normalize("NFKC", value).strip()
    limit = MAX_TEXT.get(field)
    if limit and len(cleaned) > limit:
        raise CellProblem("too_long", f"longer than {limit} characters", limit=limit)
    return cleaned


def patient_key(value: str, key: bytes) -> str:
    """Pseudonymise a patient identifier (rulebook 0.17); the clear value goes no further than this call."""
    cleaned = text(value, "patient_id")
    if not cleaned:
        raise CellProblem("required", "the patient identifier is required")
    return pseudonymise(key, cleaned)


def date(value: str) -> dt.date:
    """Parse a date in the layouts hospital systems export (a time of day, as Excel adds, is dropped)."""
    cleaned = _TIME_TAIL.sub("", unicodedata.normalize("NFKC", value).strip())
    for layout in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(cleaned, layout).date()
        except ValueError:
            continue
    raise CellProblem("invalid_date", f"{value!r} is not a date (YYYY-MM-DD)")


def quantity(value: str) -> Decimal:
    """Parse a quantity of packs: above zero, at most four decimals (a split pack is a fraction)."""
    number = _decimal(value)
    if number <= 0:
        code = "negative" if number < 0 else "zero"
        raise CellProblem(code, f"{value!r} is not above zero")
    if number != number.quantize(Decimal("0.0001")):
        raise CellProblem("too_many_decimals", f"{value!r} has more than 4 decimal places")
    if number > MAX_QUANTITY:
        raise CellProblem("out_of_range", f"{value!r} is above {MAX_QUANTITY}", maximum=MAX_QUANTITY)
    return number


def amount(value: str) -> Decimal:
    """Parse an amount of yuan (not negative, at most four decimals)."""
    try:
        number = sheets.money(value)
    except sheets.CellError as exc:
        raise CellProblem(exc.code, exc.message) from exc
    if number > MAX_AMOUNT:
        raise CellProblem("out_of_range", f"{value!r} is above {MAX_AMOUNT}", maximum=MAX_AMOUNT)
    return number


def whole(value: str, maximum: int = MAX_WHOLE) -> int:
    """Parse a whole number from 1 to ``maximum`` (days of supply, a line number)."""
    try:
        number = sheets.whole_number(value, minimum=1)
    except sheets.CellError as exc:
        raise CellProblem("zero" if exc.code == "too_small" else exc.code, exc.message) from exc
    if number > maximum:
        raise CellProblem("out_of_range", f"{value!r} is above {maximum}", maximum=maximum)
    return number


def redact(text: str | None) -> str | None:
    """Mask anything shaped like a resident ID number (a shifted row can carry one into another column)."""
    return ID_NUMBER.sub(MASK, text) if text else text


def flag(value: str) -> bool:
    """Parse a yes/no cell; empty is no."""
    try:
        return sheets.flag(value)
    except sheets.CellError as exc:
        raise CellProblem(exc.code, exc.message) from exc


def setting(value: str) -> str:
    """Read 门诊 / 急诊 / 住院 (or outpatient / emergency / inpatient)."""
    word = unicodedata.normalize("NFKC", value).strip().lower()
    if not word:
        raise CellProblem("required", "the setting is required: 门诊, 急诊 or 住院")
    if word not in _SETTING_OF:
        raise CellProblem("unknown_setting", f"{value!r} is not 门诊, 急诊 or 住院 (outpatient/emergency/inpatient)")
    return _SETTING_OF[word]


def drug_class(value: str) -> str:
    """Read a controlled or monitored drug class (rulebook 7.5, 7.8); empty is none."""
    word = unicodedata.normalize("NFKC", value).strip().lower()
    if not word:
        return ""
    if word not in _CLASS_OF:
        raise CellProblem("unknown_drug_class", f"{value!r} is not a known drug class")
    return _CLASS_OF[word]


def trace_code(value: str) -> str | None:
    """Return the scanned pack's key as the trace record stores it (``<kind>:<key>``), or None when empty."""
    if not value.strip():
        return None
    try:
        code = parse_trace_code(value)
    except InvalidCode as exc:
        raise CellProblem("invalid_trace_code", exc.message) from exc
    return f"{code.kind}:{code.key}"


def product_id(value: str) -> int:
    """Parse a platform product id."""
    try:
        return int(unicodedata.normalize("NFKC", value).strip())
    except ValueError as exc:
        raise CellProblem("not_a_number", f"{value!r} is not a product id") from exc


def _decimal(value: str) -> Decimal:
    try:
        number = Decimal(unicodedata.normalize("NFKC", value).replace(",", "").strip())
    except InvalidOperation as exc:
        raise CellProblem("not_a_number", f"{value!r} is not a number") from exc
    if not number.is_finite():
        raise CellProblem("not_a_number", f"{value!r} is not a number")
    return number


def cell_text(value: Any) -> str:
    """Turn a JSON value into the text a spreadsheet cell would hold (numbers keep their digits, None is empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
