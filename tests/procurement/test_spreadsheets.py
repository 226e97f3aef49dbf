"""Reading uploaded workbooks: what pandas gave before, and crafted files refused before they expand."""

from __future__ import annotations

import datetime as dt
import io
import time
import zipfile

import pytest

from procurement import spreadsheets as sheets


def _workbook(cells: dict[str, object]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for ref, value in cells.items():
        sheet[ref] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_cells_read_as_text_like_before():
    data = _workbook({"A1": "处方号", "B1": "数量", "C1": "日期", "A2": "RX1", "B2": 2, "C2": dt.datetime(2026, 6, 4),
                      "B3": 12.5, "A5": "RX9"})  # fmt: skip
    sheet = sheets.read_sheet("rx.xlsx", data)
    assert sheet.header == ["处方号", "数量", "日期"]
    assert sheet.rows == [(2, ["RX1", "2", "2026-06-04 00:00:00"]), (3, ["", "12.5", ""]), (5, ["RX9", "", ""])]


def test_a_small_file_naming_a_far_cell_is_refused_without_expanding_it():
    data = _workbook({"A1": "header", "XFD20000": "x"})  # a few kilobytes; 327 million cells if padded
    assert len(data) < 10_000
    began = time.perf_counter()
    with pytest.raises(sheets.SheetError) as refused:
        sheets.read_sheet("bomb.xlsx", data)
    assert refused.value.code == "sheet_too_wide" and refused.value.row == 20000
    assert time.perf_counter() - began < 20


def test_a_workbook_that_unpacks_too_large_is_refused_before_reading(monkeypatch):
    data = _workbook({"A1": "header", "A2": "x" * 5000})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        inflated = sum(info.file_size for info in archive.infolist())
    monkeypatch.setattr(sheets, "MAX_SHEET_INFLATED_BYTES", inflated - 1)
    with pytest.raises(sheets.SheetError) as refused:
        sheets.read_sheet("big.xlsx", data)
    assert refused.value.code == "file_too_large"


def test_too_many_rows_are_refused_by_row(monkeypatch):
    monkeypatch.setattr(sheets, "MAX_SHEET_ROWS", 3)
    data = _workbook({f"A{n}": f"v{n}" for n in range(1, 7)})
    with pytest.raises(sheets.SheetError) as refused:
        sheets.read_sheet("rows.xlsx", data)
    assert refused.value.code == "sheet_too_long" and refused.value.row == 5
