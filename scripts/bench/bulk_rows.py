"""The bulk-capture baseline: write, batch by batch, exactly the rows the capture service left in a database.

For each capture batch, in order, :func:`read_batch` reads from the captured database everything that batch
persisted: its ``capture_batches`` row and ``audit_records`` row, its ``trace_events`` rows, its ``ledger_entries``
(the batch's index range), the ``ledger_nodes`` whose last leaf falls in that range, the ``trace_items`` it
commissioned (inserted) or moved (updated: status, custodian, pending organisation, units, last leaf hash, with the
final values) and the ``ledger_head`` update. A writer then puts those same rows into a clone of the database as it
was before the capture, one transaction per batch, with the cheapest raw call of the driver: ``executemany`` on
SQLite, ``COPY … FROM STDIN`` (psycopg's ``cursor.copy``) on PostgreSQL, whose item updates go through a COPY into a
temporary table and one ``UPDATE … FROM``. Only the writes and commits are timed; reading is not.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

INSERTED = ("capture_batches", "audit_records", "trace_items", "trace_events", "ledger_entries", "ledger_nodes")
JSON_COLUMNS = {"capture_batches": {"result"}, "audit_records": {"details"}, "trace_events": {"details"}}
ITEM_STATE = ("status", "custodian_org_id", "pending_org_id", "dispensed_units", "last_leaf_hash")
MAX_LEVELS = 64


@dataclass
class BatchRows:
    inserts: dict[str, list[tuple]] = field(default_factory=dict)
    item_updates: list[tuple] = field(default_factory=list)  # ITEM_STATE values, then the id
    head: tuple[int, str] = (0, "[]")  # size, border JSON

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.inserts.values()) + len(self.item_updates) + 1


class Reader:
    """Read a captured database's rows batch by batch through a raw DB-API connection."""

    def __init__(self, conn: Any, *, postgres: bool) -> None:
        self.conn = conn
        self.mark = "%s" if postgres else "?"
        self.postgres = postgres
        self.columns = {table: self._columns(table) for table in INSERTED}
        head = self._all("SELECT border FROM ledger_head WHERE id = 1")[0][0]
        self.border = head if isinstance(head, str) else json.dumps(head)

    def _columns(self, table: str) -> list[str]:
        cur = self.conn.cursor()
        cur.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return [d[0] for d in cur.description]

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        cur = self.conn.cursor()
        cur.execute(sql.replace("?", self.mark), params)
        return [tuple(row) for row in cur.fetchall()]

    def _select(self, table: str) -> str:
        cast = JSON_COLUMNS.get(table, set())
        names = [f"{c}::text" if self.postgres and c in cast else c for c in self.columns[table]]
        return f"SELECT {', '.join(names)} FROM {table}"

    def batch_ids(self) -> list[int]:
        """Return the ids of the accepted batches in capture order."""
        return [row[0] for row in self._all("SELECT id FROM capture_batches WHERE accepted ORDER BY id")]

    def read_batch(self, batch_id: int) -> BatchRows:
        """Return every row one batch persisted."""
        out = BatchRows()
        out.inserts["capture_batches"] = self._all(self._select("capture_batches") + " WHERE id = ?", (batch_id,))
        out.inserts["audit_records"] = self._all(
            self._select("audit_records") + " WHERE object_type = 'capture_batch' AND object_id = ?", (str(batch_id),)
        )
        events = self._all(self._select("trace_events") + " WHERE batch_id = ? ORDER BY id", (batch_id,))
        out.inserts["trace_events"] = events
        columns = self.columns["trace_events"]
        item_at, type_at, index_at = columns.index("item_id"), columns.index("type"), columns.index("ledger_index")
        first, last = min(e[index_at] for e in events), max(e[index_at] for e in events)
        out.inserts["ledger_entries"] = self._all(
            self._select("ledger_entries") + " WHERE idx BETWEEN ? AND ? ORDER BY idx", (first, last)
        )
        out.inserts["ledger_nodes"] = self._nodes(first, last)
        item_ids = sorted({e[item_at] for e in events})
        items = self._items(item_ids)
        if events[0][type_at] == "commission":
            out.inserts["trace_items"] = items
        else:
            out.inserts["trace_items"] = []
            pick = [self.columns["trace_items"].index(c) for c in (*ITEM_STATE, "id")]
            out.item_updates = [tuple(row[i] for i in pick) for row in items]
        out.head = (last + 1, self.border)
        return out

    def _nodes(self, first: int, last: int) -> list[tuple]:
        rows = []
        for level in range(1, min(MAX_LEVELS, (last + 1).bit_length() + 1)):
            # Node (level, i) is complete when leaf ((i + 1) << level) - 1 is appended.
            low, high = -(-(first + 1) >> level) - 1, ((last + 1) >> level) - 1
            if low <= high:
                rows += self._all(
                    self._select("ledger_nodes") + " WHERE level = ? AND idx BETWEEN ? AND ? ORDER BY idx",
                    (level, low, high),
                )
        return rows

    def _items(self, ids: list[int]) -> list[tuple]:
        rows = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join([self.mark] * len(chunk))
            cur = self.conn.cursor()
            cur.execute(self._select("trace_items") + f" WHERE id IN ({marks}) ORDER BY id", chunk)
            rows += [tuple(row) for row in cur.fetchall()]
        return rows


class SqliteWriter:
    """Write batches with ``executemany``, one ``BEGIN IMMEDIATE … COMMIT`` per batch, as the service's engine does."""

    def __init__(self, path: str, columns: dict[str, list[str]]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("foreign_keys=ON", "busy_timeout=10000", "journal_mode=WAL", "synchronous=NORMAL"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.sql = {t: f"INSERT INTO {t} ({', '.join(c)}) VALUES ({', '.join('?' * len(c))})"
                    for t, c in columns.items()}  # fmt: skip
        sets = ", ".join(f"{c} = ?" for c in ITEM_STATE)
        self.update_items = f"UPDATE trace_items SET {sets} WHERE id = ?"
        self.seconds: Counter[str] = Counter()

    def write(self, rows: BatchRows) -> None:
        """Write one batch's rows in one transaction, timing each table."""
        conn, seconds = self.conn, self.seconds
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table in INSERTED:
            if rows.inserts.get(table):
                tick = time.perf_counter()
                conn.executemany(self.sql[table], rows.inserts[table])
                seconds[table] += time.perf_counter() - tick
        tick = time.perf_counter()
        if rows.item_updates:
            conn.executemany(self.update_items, rows.item_updates)
        conn.execute("UPDATE ledger_head SET size = ?, border = ? WHERE id = 1", rows.head)
        seconds["updates"] += time.perf_counter() - tick
        tick = time.perf_counter()
        conn.execute("COMMIT")
        seconds["commit"] += time.perf_counter() - tick
        seconds["total"] += time.perf_counter() - began

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class PostgresWriter:
    """Write batches with ``COPY … FROM STDIN``, one transaction per batch; item updates through a staged COPY."""

    def __init__(self, conninfo: str, columns: dict[str, list[str]]) -> None:
        import psycopg

        self.conn = psycopg.connect(conninfo, options="-c timezone=UTC")
        self.copy = {t: f"COPY {t} ({', '.join(c)}) FROM STDIN" for t, c in columns.items()}
        with self.conn.cursor() as cur:
            cur.execute(
                "CREATE TEMPORARY TABLE stage_items (status varchar(16), custodian_org_id integer, "
                "pending_org_id integer, dispensed_units integer, last_leaf_hash bytea, id integer) "
                "ON COMMIT DELETE ROWS"
            )
        self.conn.commit()
        self.seconds: Counter[str] = Counter()

    def write(self, rows: BatchRows) -> None:
        """Write one batch's rows in one transaction, timing each table."""
        seconds = self.seconds
        began = time.perf_counter()
        with self.conn.cursor() as cur:
            for table in INSERTED:
                if rows.inserts.get(table):
                    tick = time.perf_counter()
                    with cur.copy(self.copy[table]) as copy:
                        for row in rows.inserts[table]:
                            copy.write_row(row)
                    seconds[table] += time.perf_counter() - tick
            tick = time.perf_counter()
            if rows.item_updates:
                with cur.copy(f"COPY stage_items ({', '.join(ITEM_STATE)}, id) FROM STDIN") as copy:
                    for row in rows.item_updates:
                        copy.write_row(row)
                sets = ", ".join(f"{c} = s.{c}" for c in ITEM_STATE)
                cur.execute(f"UPDATE trace_items t SET {sets} FROM stage_items s WHERE t.id = s.id")
            cur.execute("UPDATE ledger_head SET size = %s, border = %s::jsonb WHERE id = 1", rows.head)
            seconds["updates"] += time.perf_counter() - tick
        tick = time.perf_counter()
        self.conn.commit()
        seconds["commit"] += time.perf_counter() - tick
        seconds["total"] += time.perf_counter() - began

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
