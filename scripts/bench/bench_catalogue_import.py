"""Benchmark the all-or-nothing catalogue import of a 5,000-row CSV, from bytes to committed products.

Run on demand, never in the test suite::

    .venv/bin/python -m scripts.bench.bench_catalogue_import [--rows 5000] [--repeat 3] [--database-url URL]

It migrates a throwaway SQLite database (or uses the given one), registers one manufacturer, builds a CSV with
Chinese headers and valid codes (approval number, GTIN check digit, trace product identifier), and times
``import_products`` plus the commit, each run in a fresh transaction that is rolled back afterwards. As a
same-run yardstick it times ``pandas.read_csv`` of the same bytes (parsing alone: the import also validates every
cell and inserts every row). It checks that every row was created. Figures are medians of ``--repeat`` runs.
The issues set no target for this path; the figures go into the README's table.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from stdnum import ean
from stdnum.cn import uscc as uscc_std

from core.accounts import create_organisation
from core.actor import Actor
from core.db import make_engine, new_session
from core.roles import OrgKind
from core.schema import upgrade
from procurement.catalogue_io import import_products

_USCC_BODY = "91350100MA0000077"  # an enterprise (91) in Fuzhou (350100)
USCC = _USCC_BODY + uscc_std.calc_check_digit(_USCC_BODY)


def gtin(body: str) -> str:
    """Return a GTIN-14 with its check digit."""
    return body + ean.calc_check_digit(body)


def csv_bytes(rows: int, maker: str) -> bytes:
    """Return a CSV of ``rows`` valid drugs with Chinese headers, as a hospital or office would export it."""
    out = io.StringIO()
    fields = [
        "通用名",
        "剂型",
        "规格",
        "包装规格",
        "转换比",
        "最小单位",
        "生产企业",
        "批准文号",
        "GTIN",
        "追溯码产品标识",
    ]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for n in range(1, rows + 1):
        writer.writerow({
            "通用名": f"测试药品{n}", "剂型": "片剂", "规格": "10mg", "包装规格": f"10mg×{n}片", "转换比": n,
            "最小单位": "片", "生产企业": maker, "批准文号": f"国药准字H2020{n:04d}",
            "GTIN": gtin(f"0693510{n:06d}"), "追溯码产品标识": f"8{n:06d}",
        })  # fmt: skip
    return out.getvalue().encode("utf-8-sig")


def main(argv: list[str] | None = None) -> int:
    """Time the import and the pandas parse of the same file; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    if not 1 <= args.rows <= 9999:
        parser.error("--rows must be between 1 and 9999 (approval numbers have four digits here)")
    with tempfile.TemporaryDirectory(prefix="yaolian-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        actor = Actor.system("bench")
        maker = "闽海制药有限公司"
        with new_session(engine) as session:
            create_organisation(session, name=maker, kind=OrgKind.MANUFACTURER, uscc=USCC,
                                region_code="350100", region_name="福州市", actor=actor)  # fmt: skip
            session.commit()
        data = csv_bytes(args.rows, maker)
        imports, parses = [], []
        for _ in range(args.repeat):
            with engine.connect() as conn:
                txn = conn.begin()
                session = new_session(conn)
                began = time.perf_counter()
                record = import_products(session, filename="bench.csv", data=data, actor=actor)
                session.flush()
                imports.append(time.perf_counter() - began)
                assert record.created_count == args.rows, record.errors[:3]
                session.close()
                txn.rollback()  # the next run imports the same file into the same empty catalogue
            began = time.perf_counter()
            pd.read_csv(io.BytesIO(data), dtype=str, encoding="utf-8-sig")
            parses.append(time.perf_counter() - began)
        engine.dispose()
    imported, parsed = statistics.median(imports), statistics.median(parses)
    print(f"Catalogue import benchmark: {args.rows:,} rows ({len(data) / 1024:.0f} KiB CSV), {engine.dialect.name}")
    print(f"  import_products (validate + insert, all or nothing): {imported * 1000:8.1f} ms  "
          f"({args.rows / imported:,.0f} rows/s)")  # fmt: skip
    print(f"  pandas.read_csv of the same bytes (parse only):       {parsed * 1000:8.1f} ms")
    print(f"  ratio import / parse: {imported / parsed:.1f}×  (medians of {args.repeat} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
