"""Reading uploaded spreadsheets (.xlsx through openpyxl, or CSV through pandas) and writing .xlsx reports and exports.

Nothing here knows what the rows mean: importers map the header to their fields and parse each cell with the
helpers below, which raise :class:`CellError` naming the rule a cell broke. Row numbers are the ones the user sees
in Excel (the header is row 1), blank rows included, so a report can point at the exact row.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import PurePath

import openpyxl
import pandas as pd
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils.exceptions import InvalidFileException

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt")
CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # UTF-8 with or without BOM; GB18030 (a superset of GBK) from Chinese Excel
MONEY_PLACES = 4
_TRUE = {"是", "y", "yes", "true", "1", "√", "✓", "✔"}
_FALSE = {"否", "n", "no", "false", "0", "×", "✗", "-", "—", ""}
_CSV_EXTRA = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
# What one uploaded worksheet may hold: above any import's own row limit, far below what a crafted file could claim.
MAX_SHEET_ROWS = 1_000_000
MAX_SHEET_COLUMNS = 200
MAX_SHEET_INFLATED_BYTES = 512 * 1024**2  # the workbook's XML parts, unpacked
_HEADER_FILL = PatternFill("solid", fgColor="DDE7F0")
_ERROR_FILL = PatternFill("solid", fgColor="F8D7DA")


class SheetError(ValueError):
    """The file as a whole cannot be read: ``code`` names why, ``row`` points at the row when one is to blame."""

    def __init__(self, code: str, message: str, *, row: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.row = code, message, row


class CellError(ValueError):
    """One cell broke a rule: ``code`` names it, the message says it in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Sheet:
    """The first worksheet: the header (row 1) and every non-blank row after it with its row number."""

    header: list[str]
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


def read_sheet(filename: str, data: bytes) -> Sheet:
    """Read the first worksheet of an .xlsx workbook or a CSV file into text cells, or raise :class:`SheetError`."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix == ".xls":
        raise SheetError("old_excel_format", "the old .xls format is not read; save the workbook as .xlsx")
    if suffix in EXCEL_SUFFIXES or (suffix not in CSV_SUFFIXES and data[:4] == b"PK\x03\x04"):
        cells = _read_excel(data)
    else:
        cells = _read_csv(data)
    if not cells or not any(cells[0]):
        raise SheetError("missing_header", "row 1 must hold the column headers", row=1)
    width = max(len(row) for row in cells)
    header = _pad(cells[0], width)
    sheet = Sheet(header=header)
    for index, row in enumerate(cells[1:], start=2):
        row = _pad(row, width)
        if any(cell for cell in row):
            sheet.rows.append((index, row))
    return sheet


def _pad(row: Sequence[str], width: int) -> list[str]:
    return [str(cell).strip() for cell in row] + [""] * (width - len(row))


def _read_excel(data: bytes) -> list[list[str]]:
    """Read the first worksheet's cells as text, within the limits: a workbook is a zip of XML, and a few kilobytes
    can name a cell at XFD1048576, which a reader padding every row to the widest would expand to billions of cells.

    The parts' declared sizes are checked before anything is inflated; rows are read one at a time in openpyxl's
    read-only mode, each as wide as its own cells, and more rows or columns than allowed are refused by name.
    Cell values come out as the text pandas gave before: whole numbers without ``.0``, dates as ``YYYY-MM-DD HH:MM:SS``.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SheetError("unreadable_file", "the file is not a readable Excel workbook (.xlsx)") from exc
    if inflated > MAX_SHEET_INFLATED_BYTES:
        limit = MAX_SHEET_INFLATED_BYTES // 1024**2
        raise SheetError("file_too_large", f"the workbook unpacks to {inflated // 1024**2:,} MB; at most {limit} MB")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return _excel_rows(workbook.worksheets[0])
        finally:
            workbook.close()
    except SheetError:
        raise
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError, IndexError) as exc:
        raise SheetError("unreadable_file", "the file is not a readable Excel workbook (.xlsx)") from exc


def _excel_rows(sheet) -> list[list[str]]:
    rows: list[list[str]] = []
    used = 0  # columns up to the last one holding a value in any row
    # The declared dimension may be anything: without it, openpyxl neither pads rows to it nor fills the rows it says
    # exist, and each row is only as wide as its own last cell (checked at once below).
    sheet.reset_dimensions()
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if number > MAX_SHEET_ROWS + 1:
            raise SheetError("sheet_too_long", f"the sheet has more than {MAX_SHEET_ROWS:,} rows after the header",
                             row=number)  # fmt: skip
        cells = [_cell_text(value) for value in values]
        filled = max((i + 1 for i, cell in enumerate(cells) if cell != ""), default=0)
        if filled > MAX_SHEET_COLUMNS:
            raise SheetError("sheet_too_wide", f"row {number} has cells beyond column {MAX_SHEET_COLUMNS}",
                             row=number)  # fmt: skip
        used = max(used, filled)
        rows.append(cells)
    while rows and not any(rows[-1]):  # trailing blank rows (a formatted but empty range) are not rows
        rows.pop()
    return [row[:used] + [""] * (used - len(row)) for row in rows]


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_csv(data: bytes) -> list[list[str]]:
    for encoding in CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SheetError("unknown_encoding", "the CSV file is neither UTF-8 nor GB18030 text")
    if "\x00" in text:
        raise SheetError("unreadable_file", "the file is neither an Excel workbook (.xlsx) nor CSV text")
    try:
        frame = pd.read_csv(
            io.StringIO(text), header=None, dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=False,
        )  # fmt: skip
    except pd.errors.EmptyDataError:
        return []
    except pd.errors.ParserError as exc:
        match = _CSV_EXTRA.search(str(exc))
        if match is None:
            raise SheetError("unreadable_file", f"the CSV file cannot be read: {exc}") from exc
        expected, line, saw = match.groups()
        raise SheetError(
            "extra_cells", f"row {line} has {saw} cells where row 1 has {expected} columns", row=int(line)
        ) from exc
    return frame.values.tolist()


def header_key(text: str) -> str:
    """Return a column header folded for matching: full-width to half-width, no spaces, asterisks or notes."""
    folded = unicodedata.normalize("NFKC", text).lower()
    folded = re.sub(r"\(.*?\)|\[.*?\]|[*\s_]", "", folded)
    return folded


# ---------------------------------------------------------------- cells


def whole_number(text: str, *, minimum: int = 1) -> int:
    """Parse a count (a pack quantity, a volume): a whole number not below ``minimum``."""
    try:
        number = Decimal(unicodedata.normalize("NFKC", text).replace(",", "").strip())
    except InvalidOperation as exc:
        raise CellError("not_a_number", f"{text!r} is not a number") from exc
    if not number.is_finite():
        raise CellError("not_a_number", f"{text!r} is not a number")
    if number != number.to_integral_value():
        raise CellError("fractional", f"{text!r} is not a whole number")
    if number < minimum:
        rule = "negative" if number < 0 else "too_small"
        raise CellError(rule, f"{text!r} is below the minimum of {minimum}")
    return int(number)


def money(text: str, *, places: int = MONEY_PLACES) -> Decimal:
    """Parse an amount of yuan: not negative, at most ``places`` decimals (never through a float)."""
    try:
        amount = Decimal(unicodedata.normalize("NFKC", text).replace(",", "").replace("¥", "").strip())
    except InvalidOperation as exc:
        raise CellError("not_a_number", f"{text!r} is not an amount") from exc
    if not amount.is_finite():
        raise CellError("not_a_number", f"{text!r} is not an amount")
    if amount < 0:
        raise CellError("negative", f"{text!r} is negative")
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise CellError("too_many_decimals", f"{text!r} has more than {places} decimal places")
    return amount


def flag(text: str) -> bool:
    """Parse a yes/no cell (是/否, Y/N, true/false, 1/0); an empty cell is no."""
    word = unicodedata.normalize("NFKC", text).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise CellError("not_yes_or_no", f"{text!r} is not 是/否 (yes/no)")


# ---------------------------------------------------------------- writing


@dataclass
class SheetOut:
    """One worksheet to write: a title, a header, rows, and the indexes of rows to mark as wrong."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[object]]
    marked: frozenset[int] = frozenset()
    widths: Sequence[int] = ()


def workbook_bytes(sheets: Sequence[SheetOut]) -> bytes:
    """Write worksheets into an .xlsx file; text stays text (leading zeros kept, nothing turns into a formula)."""
    book = openpyxl.Workbook(write_only=True)
    for spec in sheets:
        sheet = book.create_sheet(spec.title[:31])
        for index, width in enumerate(spec.widths):
            sheet.column_dimensions[openpyxl.utils.get_column_letter(index + 1)].width = width
        sheet.freeze_panes = "A2"
        sheet.append([_cell(sheet, value, fill=_HEADER_FILL, bold=True) for value in spec.header])
        for index, row in enumerate(spec.rows):
            fill = _ERROR_FILL if index in spec.marked else None
            sheet.append([_cell(sheet, value, fill=fill) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _cell(sheet, value: object, *, fill: PatternFill | None = None, bold: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # "=HYPERLINK(…)" from an upload comes back as text, never as a live formula
        cell.alignment = Alignment(wrap_text="\n" in value, vertical="top")
    if fill is not None:
        cell.fill = fill
    if bold:
        cell.font = Font(bold=True)
    return cell
