"""A faithful Kingdee K3 Cloud (金蝶云星空) WebAPI server for tests, demos and benchmarks.

It speaks the WebAPI as K3 Cloud does — ``POST`` JSON to ``/k3cloud/<service>.common.kdsvc`` —
with the session login (``AuthService.ValidateUser``, cookies ``kdservice-sessionid`` and
``ASP.NET_SessionId``), the session-lost answer (HTTP 200, ``ErrorCode`` 500,
"会话信息已丢失，请重新登录"),
``DynamicFormService`` ``ExecuteBillQuery`` / ``View`` / ``Save`` / ``BatchSave`` / ``Delete``
for ``BD_Customer``, ``BD_MATERIAL`` and ``SAL_SaleOrder`` (with its ``FSaleOrderEntry`` lines),
K3's answer shapes and Chinese messages, and ``FModifyDate`` in server local time (China) with
milliseconds, strictly increasing per write.

Data lives in SQLite (in memory, or a file) behind one lock; queries are compiled to SQL with
whitelisted fields and bound literals. Fault switches (:class:`Faults`) make it throttle, fail,
answer slowly, expire sessions, refuse records or send broken bodies — in-process, or over HTTP
with ``POST /k3cloud/__emulator__/faults`` so an emulator in another process can be driven.

Run it: ``python -m connectors.kingdee.emulator --port 8090 --seed customers=1000,orders=200``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import re
import sqlite3
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar

from connectors.kingdee import _seed
from connectors.kingdee._forms import FORMS, REFS, Form, FormField, Kind
from connectors.kingdee._query import QueryError, Select, normalise_moment

__all__ = ["Faults", "KingdeeEmulator", "main", "serve"]

log = logging.getLogger("tongbu.emulator.kingdee")

CHINA = timezone(timedelta(hours=8), "China Standard Time")
"""K3 Cloud servers keep local time; China has one zone and no daylight saving."""

SESSION_LOST = "会话信息已丢失，请重新登录"
BASE_PATH = "/k3cloud/"
_SERVICE = re.compile(
    r"^/k3cloud/Kingdee\.BOS\.WebApi\.ServicesStub\.(AuthService|DynamicFormService)"
    r"\.(\w+)\.common\.kdsvc$",
    re.IGNORECASE,
)
_ADMIN = "/k3cloud/__emulator__/"
_SERVICES = {
    name.lower(): name
    for name in (
        "ValidateUser",
        "ExecuteBillQuery",
        "View",
        "Save",
        "BatchSave",
        "Delete",
        "Submit",
        "Audit",
        "UnAudit",
        "ExcuteOperation",  # sic: K3's spelling
    )
}
_STATUS_NAMES = {"A": "创建", "B": "审核中", "C": "已审核", "D": "重新审核", "Z": "暂存"}
_OPERATIONS: dict[str, tuple[str, frozenset[str], str]] = {
    # operation: (field, the states it applies to, the state it leaves)
    "submit": ("FDocumentStatus", frozenset("ADZ"), "B"),
    "audit": ("FDocumentStatus", frozenset("B"), "C"),
    "unaudit": ("FDocumentStatus", frozenset("C"), "D"),
    "forbid": ("FForbidStatus", frozenset("AB"), "B"),
    "enable": ("FForbidStatus", frozenset("AB"), "A"),
}
_MSG_VALIDATION = 11
_MSG_SESSION_LOST = 1
_CENT = Decimal("0.01")
_PRICE = Decimal("0.000001")
_DEFAULT_TAX_RATE = Decimal(13)
_SEED_START = datetime(2024, 1, 2, 9, 0, 0)  # noqa: DTZ001 - K3 moments are zoneless local time


class _BadRequest(Exception):
    """A request K3 cannot read; the message is K3's wording."""


class _Invalid(Exception):
    """A record K3 refuses; the message is K3's wording."""

    def __init__(self, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_name = field_name


# --------------------------------------------------------------------------------------------
# Faults


class Faults:
    """Fault switches of one emulator. Counted faults apply to the next ``n`` business calls
    (``DynamicFormService``; logins are never faulted). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.generation = 0
        """Bumped by :meth:`expire_sessions`: sessions from an older generation are lost."""
        self.clear()

    def clear(self) -> None:
        """Switch every fault off (sessions already expired stay expired)."""
        with self._lock:
            self._throttle = (0, 0.0)
            self._unavailable = (0, 0.0)
            self._slow: tuple[int, float, str | None] = (0, 0.0, None)
            self._malformed = 0
            self._rejected: dict[tuple[str, str], str] = {}
            self._rejected_names: dict[tuple[str, str], str] = {}

    def throttle(self, n: int = 1, retry_after: float = 1.0) -> None:
        """The next ``n`` business calls answer 429 with ``Retry-After``."""
        with self._lock:
            self._throttle = (n, retry_after)

    def unavailable(self, n: int = 1, retry_after: float = 1.0) -> None:
        """The next ``n`` business calls answer 503 with ``Retry-After``."""
        with self._lock:
            self._unavailable = (n, retry_after)

    def slow(self, n: int = 1, seconds: float = 1.0, service: str | None = None) -> None:
        """The next ``n`` business calls (of ``service`` only, e.g. ``BatchSave``, when given) are
        carried out, then answered after ``seconds`` — a client that gave up has lost the
        answer of a write that happened."""
        with self._lock:
            self._slow = (n, seconds, _SERVICES.get(service.lower(), service) if service else None)

    def malformed(self, n: int = 1) -> None:
        """The next ``n`` business answers are cut in half (invalid JSON)."""
        with self._lock:
            self._malformed = n

    def expire_sessions(self) -> None:
        """Invalidate every session now: the next call gets the session-lost answer."""
        with self._lock:
            self.generation += 1

    def reject(
        self,
        form: str,
        numbers: Sequence[str] = (),
        message: str = "数据校验不通过",
        *,
        names: Sequence[str] = (),
    ) -> None:
        """Saving any of these records — by number, or by ``FName`` (for creates the coding
        rule numbers) — fails with the validation error ``message``."""
        with self._lock:
            for number in numbers:
                self._rejected[(form.lower(), str(number))] = message
            for name in names:
                self._rejected_names[(form.lower(), str(name))] = message

    def apply(self, action: Mapping[str, Any]) -> None:
        """Apply one switch given as data: ``{"action": "throttle", "n": 2, "retry_after": 1}``
        (the names and arguments of the methods; ``{"action": "clear"}``)."""
        params = dict(action)
        name = str(params.pop("action", ""))
        methods: dict[str, Callable[..., None]] = {
            "throttle": self.throttle,
            "unavailable": self.unavailable,
            "slow": self.slow,
            "malformed": self.malformed,
            "expire_sessions": self.expire_sessions,
            "reject": self.reject,
            "clear": self.clear,
        }
        if name not in methods:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(methods))}")
        methods[name](**params)

    def state(self) -> dict[str, Any]:
        """What is switched on, as data."""
        with self._lock:
            return {
                "throttle": {"n": self._throttle[0], "retry_after": self._throttle[1]},
                "unavailable": {"n": self._unavailable[0], "retry_after": self._unavailable[1]},
                "slow": {"n": self._slow[0], "seconds": self._slow[1], "service": self._slow[2]},
                "malformed": {"n": self._malformed},
                "rejected": [
                    {"form": form, "number": number, "message": message}
                    for (form, number), message in self._rejected.items()
                ],
                "rejected_names": [
                    {"form": form, "name": name, "message": message}
                    for (form, name), message in self._rejected_names.items()
                ],
                "generation": self.generation,
            }

    def take_refusal(self) -> tuple[int, float] | None:
        """A 429 or 503 (status, retry after) to answer instead of the call, if one is due."""
        with self._lock:
            if self._throttle[0] > 0:
                self._throttle = (self._throttle[0] - 1, self._throttle[1])
                return 429, self._throttle[1]
            if self._unavailable[0] > 0:
                self._unavailable = (self._unavailable[0] - 1, self._unavailable[1])
                return 503, self._unavailable[1]
        return None

    def take_delay(self, service: str) -> float:
        """Seconds to hold the answer of this call."""
        with self._lock:
            n, seconds, only = self._slow
            if n > 0 and (only is None or only == service):
                self._slow = (n - 1, seconds, only)
                return seconds
        return 0.0

    def take_malformed(self) -> bool:
        """Whether to break this answer."""
        with self._lock:
            if self._malformed > 0:
                self._malformed -= 1
                return True
        return False

    def rejection(self, form: str, number: str, name: str | None = None) -> str | None:
        """The message refusing this record, if it is to be refused."""
        with self._lock:
            found = self._rejected.get((form.lower(), number))
            if found is None and name is not None:
                found = self._rejected_names.get((form.lower(), name))
            return found


# --------------------------------------------------------------------------------------------
# The clock: FModifyDate in server local time, strictly increasing per write


class _Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime(1900, 1, 1)  # noqa: DTZ001 - K3 moments are zoneless local time

    def next(self) -> str:
        """A new modification time: now (China), or 1 ms after the last one given."""
        with self._lock:
            now = datetime.now(CHINA).replace(tzinfo=None)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            moment = max(now, self._last + timedelta(milliseconds=1))
            self._last = moment
        return _seed.stamp(moment)

    def saw(self, stamp: str | None) -> None:
        """Never give a time at or before ``stamp`` again."""
        if not stamp:
            return
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f")  # noqa: DTZ007 - zoneless
        with self._lock:
            self._last = max(self._last, moment)


# --------------------------------------------------------------------------------------------
# The store: SQLite behind a lock


def _status(
    errors: list[dict[str, Any]], successes: list[dict[str, Any]], msg_code: int = 0
) -> dict[str, Any]:
    return {
        "ErrorCode": 500 if errors else 0,
        "IsSuccess": not errors,
        "Errors": errors,
        "SuccessEntitys": successes,
        "SuccessMessages": [],
        "MsgCode": msg_code if errors else 0,
    }


def _error(message: str, index: int = 0, field_name: str | None = None) -> dict[str, Any]:
    return {"FieldName": field_name, "Message": message, "DIndex": index}


def _lower_keys(model: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    return {str(key).lower(): (str(key), value) for key, value in model.items()}


def _decimal(found: FormField, value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _Invalid(f"字段“{found.caption}”的值“{value}”不是有效的数值", found.key)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Invalid(f"字段“{found.caption}”的值“{value}”不是有效的数值", found.key) from None
    if not number.is_finite():
        raise _Invalid(f"字段“{found.caption}”的值“{value}”不是有效的数值", found.key)
    return number


def _field(form: Form, key: str) -> FormField:
    found = form.get(key)
    if found is None:
        raise KeyError(f"{form.form_id} has no field {key}")
    return found


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # a multi-language value: [{"Key": 2052, "Value": ".."}]
        texts = {item.get("Key"): item.get("Value") for item in value if isinstance(item, dict)}
        return str(texts.get(2052, next(iter(texts.values()), "")) or "")
    return str(value)


class _Store:
    """The data of one emulator and the operations of the WebAPI on it."""

    def __init__(self, path: str, clock: _Clock, faults: Faults) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.faults = faults
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            # A commit survives the emulator being killed (WAL), without an fsync per request
            # that would make the emulator, not the connector, what a benchmark measures.
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
        self._create()
        self._next_number: dict[str, int] = {}

    # schema and seed ----------------------------------------------------------------------

    def _create(self) -> None:
        statements: list[str] = []
        for target in REFS.values():
            if target.table.startswith("ref_"):
                statements.append(
                    f"CREATE TABLE IF NOT EXISTS {target.table} ({target.pk} INTEGER PRIMARY KEY,"
                    " FNumber TEXT NOT NULL UNIQUE, FName TEXT NOT NULL)"
                )
        for form in FORMS.values():
            columns = [f"{form.pk} INTEGER PRIMARY KEY AUTOINCREMENT"]
            for found in form.head_fields[1:]:
                extra = " NOT NULL UNIQUE" if found.key == form.number else ""
                columns.append(f"{found.key} {found.sql_type}{extra}")
            statements.append(f"CREATE TABLE IF NOT EXISTS {form.table} ({', '.join(columns)})")
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {form.table}_modified"
                f" ON {form.table} (FModifyDate, {form.pk})"
            )
            if form.entry_table:
                entry_columns = [
                    f"{form.entry_pk} INTEGER PRIMARY KEY AUTOINCREMENT",
                    f"{form.pk} INTEGER NOT NULL REFERENCES {form.table} ON DELETE CASCADE",
                    *(f"{f.key} {f.sql_type}" for f in form.entry_fields),
                ]
                statements.append(
                    f"CREATE TABLE IF NOT EXISTS {form.entry_table} ({', '.join(entry_columns)})"
                )
                statements.append(
                    f"CREATE INDEX IF NOT EXISTS {form.entry_table}_head"
                    f" ON {form.entry_table} ({form.pk}, FSeq)"
                )
        with self.lock:
            for statement in statements:
                self.db.execute(statement)
            for table, rows in (
                ("ref_org", _seed.ORGS),
                ("ref_currency", _seed.CURRENCIES),
                ("ref_unit", _seed.UNITS),
            ):
                self.db.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?, ?, ?)", rows)
            for form in FORMS.values():  # K3 ids start above 100000
                self.db.execute(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT ?, 100000"
                    " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
                    (form.table, form.table),
                )
                if form.entry_table:
                    self.db.execute(
                        "INSERT INTO sqlite_sequence (name, seq) SELECT ?, 100000"
                        " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
                        (form.entry_table, form.entry_table),
                    )
            for form in FORMS.values():
                newest = self.db.execute(f"SELECT MAX(FModifyDate) FROM {form.table}").fetchone()
                self.clock.saw(newest[0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and run the block in one transaction (rolled back if it raises)."""
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def is_empty(self) -> bool:
        with self.lock:
            return all(self.count(form) == 0 for form in FORMS.values())

    def seed(self, rng: random.Random, customers: int, materials: int, orders: int) -> None:
        if orders and not customers:
            raise ValueError("sale orders need customers: seed customers too")
        with self.transaction():
            self._insert(FORMS["bd_customer"], self._seed_customers(rng, customers))
            self._insert(FORMS["bd_material"], self._seed_materials(rng, materials))
            if orders:
                self._seed_orders(rng, orders)
        with self.lock:
            for form in FORMS.values():
                newest = self.db.execute(f"SELECT MAX(FModifyDate) FROM {form.table}").fetchone()
                self.clock.saw(newest[0])

    def _first(self, form: Form) -> tuple[int, int]:
        """The next internal id and the next number of the coding rule."""
        next_id = self.db.execute(
            "SELECT seq + 1 FROM sqlite_sequence WHERE name = ?", (form.table,)
        ).fetchone()[0]
        return int(next_id), self._claim_numbers(form, 0)

    def _seed_customers(self, rng: random.Random, count: int) -> list[tuple[object, ...]]:
        form = FORMS["bd_customer"]
        first_id, first_number = self._first(form)
        rows = list(_seed.customer_rows(rng, first_id, first_number, count, _SEED_START))
        self._claim_numbers(form, count)
        return rows

    def _seed_materials(self, rng: random.Random, count: int) -> list[tuple[object, ...]]:
        form = FORMS["bd_material"]
        first_id, first_number = self._first(form)
        rows = list(_seed.material_rows(rng, first_id, first_number, count, _SEED_START))
        self._claim_numbers(form, count)
        return rows

    def _seed_orders(self, rng: random.Random, count: int) -> None:
        form = FORMS["sal_saleorder"]
        customers = [row[0] for row in self.db.execute("SELECT FCUSTID FROM bd_customer")]
        materials = [row[0] for row in self.db.execute("SELECT FMATERIALID FROM bd_material")]
        if not materials:
            raise ValueError("sale orders need materials: seed materials too")
        first_id, first_number = self._first(form)
        first_entry = self.db.execute(
            "SELECT seq + 1 FROM sqlite_sequence WHERE name = ?", (form.entry_table,)
        ).fetchone()[0]
        heads: list[tuple[object, ...]] = []
        lines: list[tuple[object, ...]] = []
        for head, order_lines in _seed.order_rows(
            rng,
            first_id=first_id,
            first_entry_id=first_entry,
            first_number=first_number,
            count=count,
            start=_SEED_START,
            customer_ids=customers,
            material_ids=materials,
        ):
            heads.append(head)
            lines.extend(order_lines)
        self._claim_numbers(form, count)
        self._insert(form, heads)
        marks = ", ".join("?" * len(lines[0])) if lines else ""
        self.db.executemany(f"INSERT INTO {form.entry_table} VALUES ({marks})", lines)

    def _insert(self, form: Form, rows: list[tuple[object, ...]]) -> None:
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            self.db.executemany(f"INSERT INTO {form.table} VALUES ({marks})", rows)

    def add_seeded(self, rng: random.Random, form: Form, count: int) -> list[str]:
        """Add ``count`` generated records now, in import batches stamped by the clock."""
        if form.form_id not in ("BD_Customer", "BD_MATERIAL"):
            raise ValueError(f"generated records of {form.form_id} are seeded at start only")
        with self.transaction():
            if form.form_id == "BD_Customer":
                rows = self._seed_customers(rng, count)
            else:
                rows = self._seed_materials(rng, count)
            stamped: list[tuple[object, ...]] = []
            left = 0
            stamp = ""
            for row in rows:
                if left == 0:
                    stamp = self.clock.next()
                    left = rng.choice((1, 2, 5, 20, 100))
                left -= 1
                stamped.append((*row[:-2], stamp, stamp))
            self._insert(form, stamped)
        return [str(row[1]) for row in stamped]

    def _claim_numbers(self, form: Form, count: int) -> int:
        """Reserve ``count`` numbers of the coding rule; return the first."""
        if form.form_id not in self._next_number:
            pattern = re.escape(form.number_rule.split("{")[0]) + r"(\d+)$"
            highest = 0
            for (number,) in self.db.execute(f"SELECT {form.number} FROM {form.table}"):
                match = re.match(pattern, str(number))
                if match:
                    highest = max(highest, int(match.group(1)))
            self._next_number[form.form_id] = highest + 1
        first = self._next_number[form.form_id]
        self._next_number[form.form_id] = first + count
        return first

    def _new_number(self, form: Form) -> str:
        while True:
            number = form.number_rule.format(self._claim_numbers(form, 1))
            if self._find(form, number=number) is None:
                return number

    # reads --------------------------------------------------------------------------------

    def count(self, form: Form) -> int:
        with self.lock:
            return int(self.db.execute(f"SELECT COUNT(*) FROM {form.table}").fetchone()[0])

    def _find(
        self, form: Form, *, number: str | None = None, pk: int | None = None
    ) -> sqlite3.Row | None:
        self.db.row_factory = sqlite3.Row
        try:
            if pk is not None:
                row = self.db.execute(
                    f"SELECT * FROM {form.table} WHERE {form.pk} = ?", (pk,)
                ).fetchone()
            else:
                row = self.db.execute(
                    f"SELECT * FROM {form.table} WHERE {form.number} = ?", (number,)
                ).fetchone()
        finally:
            self.db.row_factory = None
        return row  # type: ignore[no-any-return]

    def query(self, data: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """ExecuteBillQuery: rows in FieldKeys order."""
        form = FORMS.get(str(data.get("FormId") or "").lower())
        if form is None:
            raise QueryError("业务对象不存在")
        select = Select(form)
        columns = select.columns(data.get("FieldKeys", ""))
        where = select.where(data.get("FilterString") or "")
        order = select.order(data.get("OrderString") or "")
        try:
            start = max(0, int(data.get("StartRow") or 0))
            limit = max(0, int(data.get("Limit") or 0))
            top = max(0, int(data.get("TopRowCount") or 0))
        except (TypeError, ValueError):
            raise QueryError("StartRow、Limit、TopRowCount 必须是整数") from None
        end = start + limit if limit else None
        if top:
            end = min(end, top) if end is not None else top
        sql = f"SELECT {', '.join(columns)} FROM {select.from_clause()} WHERE {where}"
        sql += f" ORDER BY {order} LIMIT ? OFFSET ?"
        params = [*select.params, -1 if end is None else max(0, end - start), start]
        with self.lock:
            try:
                return self.db.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise QueryError(f"查询失败：{error}") from None

    def record(self, form: Form, number: str) -> dict[str, Any] | None:
        """A record in the connector's flat shape (references as ``<Field>.FNumber``)."""
        found = self._records(form, [{"FieldName": form.number, "Compare": "=", "Value": number}])
        return found[0] if found else None

    def records(self, form: Form) -> list[dict[str, Any]]:
        """Every record in the connector's flat shape, by internal id."""
        return self._records(form, "")

    def numbers(self, form: Form) -> list[str]:
        with self.lock:
            query = f"SELECT {form.number} FROM {form.table} ORDER BY {form.pk}"
            return [str(row[0]) for row in self.db.execute(query)]

    def _records(self, form: Form, where: Any) -> list[dict[str, Any]]:
        head_keys = [f.key + ".FNumber" if f.kind is Kind.REF else f.key for f in form.head_fields]
        rows = self.query(
            {
                "FormId": form.form_id,
                "FieldKeys": ",".join(head_keys),
                "FilterString": where,
                "OrderString": f"{form.pk} ASC",
            }
        )
        records = [{k: _exact(v) for k, v in zip(head_keys, row, strict=True)} for row in rows]
        if form.entry_key and records:
            by_id: dict[int, list[dict[str, Any]]] = {}
            for record in records:
                record[form.entry_key] = by_id.setdefault(int(record[form.pk]), [])
            line_keys = [
                f.key + ".FNumber" if f.kind is Kind.REF else f.key
                for f in form.fields
                if f.entry and f.key != "FSeq"
            ]
            ids = ",".join(str(bill_id) for bill_id in by_id)
            lines = self.query(
                {
                    "FormId": form.form_id,
                    "FieldKeys": ",".join([form.pk, *line_keys]),
                    "FilterString": f"{form.pk} IN ({ids})" if where else "",
                    "OrderString": f"{form.pk} ASC, FSeq ASC",
                }
            )
            for line in lines:
                if line[1] is not None:
                    values = zip(line_keys, line[1:], strict=True)
                    by_id[int(line[0])].append({k: _exact(v) for k, v in values})
        return records

    def view(self, form: Form, data: Mapping[str, Any]) -> dict[str, Any]:
        """View: the full model of one record, as K3 shows it."""
        raw_id = str(data.get("Id") or "").strip()
        number = str(data.get("Number") or "").strip()
        with self.lock:
            if raw_id:
                row = self._find(form, pk=int(raw_id)) if raw_id.isdigit() else None
            else:
                row = self._find(form, number=number) if number else None
            if row is None:
                status = _status([_error("单据不存在或已被删除")], [], _MSG_VALIDATION)
                return {"Result": {"ResponseStatus": status, "Result": None}}
            model = self._view_model(form, row)
        status = _status([], [])
        return {"Result": {"ResponseStatus": status, "Result": model}}

    def _ref_view(self, target_key: str, ref_id: Any) -> dict[str, Any] | None:
        if not ref_id:
            return None
        target = REFS[target_key]
        found = self.db.execute(
            f"SELECT {target.pk}, FNumber, FName FROM {target.table} WHERE {target.pk} = ?",
            (ref_id,),
        ).fetchone()
        if found is None:
            return None
        return {
            "Id": found[0],
            "msterID": found[0],
            "Number": found[1],
            "Name": [{"Key": 2052, "Value": found[2]}],
        }

    def _view_value(self, found: FormField, value: Any) -> Any:
        if found.kind is Kind.REF and found.target:
            return self._ref_view(found.target, value)
        if found.multilang:
            return [{"Key": 2052, "Value": value or ""}]
        return value

    def _view_model(self, form: Form, row: sqlite3.Row) -> dict[str, Any]:
        model: dict[str, Any] = {"Id": row[form.pk]}
        subs: dict[str, dict[str, Any]] = {}
        for found in form.head_fields[1:]:
            name = found.key[1:] if found.key.startswith("F") else found.key
            value = self._view_value(found, row[found.key])
            if found.sub:
                subs.setdefault(found.sub, {"Id": row[form.pk]})[name] = value
            else:
                model[name] = value
        for sub, values in subs.items():
            model[sub[1:] if sub.startswith("F") else sub] = [values]
        if form.entry_key and form.entry_table:
            lines = self.db.execute(
                f"SELECT * FROM {form.entry_table} WHERE {form.pk} = ? ORDER BY FSeq",
                (row[form.pk],),
            ).fetchall()
            names = [form.entry_pk, form.pk, *(f.key for f in form.entry_fields)]
            entries = []
            for line in lines:
                values = dict(zip(names, line, strict=True))
                entry: dict[str, Any] = {"Id": values[form.entry_pk]}
                for found in form.entry_fields:
                    entry[found.key[1:]] = self._view_value(found, values[found.key])
                entries.append(entry)
            model[form.entry_key[1:]] = entries
        return model

    # writes -------------------------------------------------------------------------------

    def save(
        self, form: Form, data: Mapping[str, Any], *, batch: bool, ui: bool = False
    ) -> dict[str, Any]:
        """Save / BatchSave: create (id 0) or update (an existing id) each model."""
        raw = data.get("Model")
        models = raw if isinstance(raw, list) else [raw]
        need_update = {str(key).lower() for key in data.get("NeedUpDateFields") or []}
        return_fields = [str(key) for key in data.get("NeedReturnFields") or []]
        delete_entry = str(data.get("IsDeleteEntry", "true")).lower() != "false"
        errors: list[dict[str, Any]] = []
        successes: list[dict[str, Any]] = []
        returned: list[dict[str, Any]] = []
        with self.lock:
            for index, model in enumerate(models):
                if not isinstance(model, Mapping):
                    errors.append(_error("Model 格式不正确：应为 JSON 对象", index))
                    continue
                try:
                    with self.transaction():
                        pk, number = self._save_one(form, model, need_update, delete_entry, ui)
                except _Invalid as invalid:
                    errors.append(_error(invalid.message, index, invalid.field_name))
                    continue
                successes.append({"Id": pk, "Number": number, "DIndex": index})
                returned.append(self._returned(form, pk, return_fields))
        single = not batch and len(successes) == 1
        return {
            "Result": {
                "ResponseStatus": _status(errors, successes, _MSG_VALIDATION),
                "Id": successes[0]["Id"] if single else "",
                "Number": successes[0]["Number"] if single else "",
                "NeedReturnData": returned,
            }
        }

    def _returned(self, form: Form, pk: int, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        try:
            rows = self.query(
                {
                    "FormId": form.form_id,
                    "FieldKeys": ",".join(keys),
                    "FilterString": f"{form.pk}={pk}",
                }
            )
        except QueryError:
            return {}
        return dict(zip(keys, rows[0], strict=True)) if rows else {}

    def _save_one(
        self,
        form: Form,
        model: Mapping[str, Any],
        need_update: set[str],
        delete_entry: bool,
        ui: bool,
    ) -> tuple[int, str]:
        fields = self._flatten(form, model)
        pk_value = fields.pop(form.pk.lower(), (form.pk, 0))[1]
        try:
            pk = int(str(pk_value or 0).strip() or 0)
        except ValueError:
            raise _Invalid(f"实体主键“{pk_value}”不是有效的内码", form.pk) from None
        existing = self._find(form, pk=pk) if pk else None
        if pk and existing is None:
            raise _Invalid(f"内码为“{pk}”的{form.caption}不存在或已被删除", form.pk)
        creating = existing is None
        number = _text(fields.pop(form.number.lower(), (form.number, ""))[1]).strip()
        if creating:
            number = number or self._new_number(form)
            if self._find(form, number=number) is not None:
                raise _Invalid(self._duplicate(form, number), form.number)
        elif not number or (need_update and form.number.lower() not in need_update):
            number = str(existing[form.number]) if existing is not None else number
        elif (
            existing is not None
            and number != existing[form.number]
            and self._find(form, number=number) is not None
        ):
            raise _Invalid(self._duplicate(form, number), form.number)
        lines = fields.pop(form.entry_key.lower(), None) if form.entry_key else None
        values = self._values(form, fields, need_update if not creating else set(), ui)
        values[form.number] = number
        name = values.get("FName")
        if name is None and existing is not None and "FName" in existing.keys():  # noqa: SIM118
            name = existing["FName"]
        refusal = self.faults.rejection(form.form_id, number, None if name is None else str(name))
        if refusal is not None:
            raise _Invalid(refusal)
        self._check_required(form, values, creating)
        stamp = self.clock.next()
        values["FModifyDate"] = stamp
        if creating:
            values = {**self._defaults(form), **values, "FCreateDate": stamp}
            columns = ", ".join(values)
            marks = ", ".join("?" * len(values))
            cursor = self.db.execute(
                f"INSERT INTO {form.table} ({columns}) VALUES ({marks})", list(values.values())
            )
            pk = int(cursor.lastrowid or 0)
        else:
            assignments = ", ".join(f"{column} = ?" for column in values)
            self.db.execute(
                f"UPDATE {form.table} SET {assignments} WHERE {form.pk} = ?",
                [*values.values(), pk],
            )
        entry_keys = {f.key.lower() for f in form.entry_fields} | {form.entry_pk.lower()}
        if lines is not None and (
            creating
            or not need_update
            or (form.entry_key or "").lower() in need_update
            or bool(entry_keys & need_update)
        ):
            self._save_lines(form, pk, lines[1], delete_entry)
        return pk, number

    @staticmethod
    def _duplicate(form: Form, number: str) -> str:
        if form.number == "FBillNo":
            return f"单据编号“{number}”已经存在，单据编号必须唯一！"
        return f"编码为“{number}”的{form.caption}已经存在，编码必须唯一！"

    def _flatten(self, form: Form, model: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
        """The model's fields by lower-case key, sub-entities (``FSaleOrderFinance``,
        ``SubHeadEntity``) merged into the header."""
        subs = {f.sub.lower() for f in form.fields if f.sub}
        fields: dict[str, tuple[str, Any]] = {}
        for lower, (key, value) in _lower_keys(model).items():
            if lower in subs:
                sub_value = value[0] if isinstance(value, list) and value else value
                if isinstance(sub_value, Mapping):
                    fields.update(_lower_keys(sub_value))
                continue
            fields[lower] = (key, value)
        return fields

    def _values(
        self, form: Form, fields: Mapping[str, tuple[str, Any]], need_update: set[str], ui: bool
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for lower, (key, raw) in fields.items():
            found = form.get(lower)
            if found is None or found.entry:
                raise _Invalid(
                    f"ResolveFiled_InnerEx解析字段(Key:{key})失败：实体不存在此属性！[EntityType：BillHead]",
                    key,
                )
            listed = lower in need_update or (
                found.sub is not None and found.sub.lower() in need_update
            )
            if need_update and not listed:
                continue
            if not found.writable and not (
                ui and found.key in ("FDocumentStatus", "FForbidStatus")
            ):
                continue
            values[found.key] = self._convert(found, raw)
        return values

    def _convert(self, found: FormField, raw: Any) -> Any:
        if found.kind is Kind.REF:
            return self._ref_id(found, raw)
        if found.kind is Kind.DECIMAL:
            number = _decimal(found, raw)
            return None if number is None else float(number)
        if found.kind in (Kind.DATE, Kind.DATETIME):
            if raw in (None, ""):
                return None
            try:
                return normalise_moment(raw, found.kind)
            except QueryError:
                raise _Invalid(
                    f"字段“{found.caption}”的值“{raw}”不是有效的日期", found.key
                ) from None
        if found.kind is Kind.INT:
            try:
                return int(str(raw).strip() or 0)
            except ValueError:
                raise _Invalid(
                    f"字段“{found.caption}”的值“{raw}”不是有效的整数", found.key
                ) from None
        return _text(raw)

    def _ref_id(self, found: FormField, raw: Any) -> int | None:
        target = REFS[found.target or ""]
        number: str | None = None
        ref_id: int | None = None
        if isinstance(raw, Mapping):
            lowered = {str(key).lower(): value for key, value in raw.items()}
            for name in ("fnumber", "number"):
                if name in lowered:
                    number = _text(lowered[name]).strip()
            for name in ("fid", "id", target.pk.lower()):
                if name in lowered and str(lowered[name]).strip().isdigit():
                    ref_id = int(str(lowered[name]).strip()) or None
        elif isinstance(raw, int) and not isinstance(raw, bool):
            ref_id = raw or None
        elif raw is not None:
            number = str(raw).strip()
        if number:
            hit = self.db.execute(
                f"SELECT {target.pk} FROM {target.table} WHERE FNumber = ?", (number,)
            ).fetchone()
            if hit is None:
                raise _Invalid(
                    f"字段“{found.caption}”的值“{number}”在{target.caption}中不存在", found.key
                )
            return int(hit[0])
        if ref_id is not None:
            hit = self.db.execute(
                f"SELECT 1 FROM {target.table} WHERE {target.pk} = ?", (ref_id,)
            ).fetchone()
            if hit is None:
                raise _Invalid(
                    f"字段“{found.caption}”的值“{ref_id}”在{target.caption}中不存在", found.key
                )
        return ref_id

    def _check_required(self, form: Form, values: Mapping[str, Any], creating: bool) -> None:
        for found in form.head_fields:
            if not found.required:
                continue
            if (creating and found.key not in values) or (
                found.key in values and values[found.key] in (None, "")
            ):
                raise _Invalid(f"字段“{found.caption}”是必填项", found.key)

    def _defaults(self, form: Form) -> dict[str, Any]:
        values: dict[str, Any] = {"FDocumentStatus": "A"}
        for found in form.head_fields:
            if found.kind is Kind.REF and found.target == "org":
                values[found.key] = _seed.ORGS[0][0]
            elif found.kind is Kind.REF and found.target == "currency":
                values[found.key] = _seed.CURRENCIES[0][0]
            elif found.key == "FForbidStatus":
                values[found.key] = "A"
            elif found.key == "FDate":
                values[found.key] = datetime.now(CHINA).strftime("%Y-%m-%dT00:00:00")
            elif found.kind is Kind.DECIMAL:
                values[found.key] = 0.0
            elif found.kind is Kind.TEXT and found.key not in values:
                values[found.key] = ""
        return values

    def _save_lines(self, form: Form, pk: int, raw_lines: Any, delete_entry: bool) -> None:
        if not isinstance(raw_lines, list):
            raise _Invalid(f"{form.entry_key} 应为数组", form.entry_key)
        table = form.entry_table
        existing = {
            row[0]
            for row in self.db.execute(
                f"SELECT {form.entry_pk} FROM {table} WHERE {form.pk} = ?", (pk,)
            )
        }
        kept: set[int] = set()
        seq = 0
        if not delete_entry:
            seq = int(
                self.db.execute(
                    f"SELECT COALESCE(MAX(FSeq), 0) FROM {table} WHERE {form.pk} = ?", (pk,)
                ).fetchone()[0]
            )
        for row_number, raw in enumerate(raw_lines, start=1):
            values = self._line_values(form, raw, row_number)
            entry_id = values.pop(form.entry_pk, 0) or 0
            if entry_id in existing:
                kept.add(entry_id)
                if delete_entry:
                    values["FSeq"] = row_number
                assignments = ", ".join(f"{column} = ?" for column in values)
                self.db.execute(
                    f"UPDATE {table} SET {assignments} WHERE {form.entry_pk} = ?",
                    [*values.values(), entry_id],
                )
            else:
                seq += 1
                values["FSeq"] = row_number if delete_entry else seq
                values[form.pk] = pk
                columns = ", ".join(values)
                marks = ", ".join("?" * len(values))
                self.db.execute(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values())
                )
        if delete_entry:
            for gone in existing - kept:
                self.db.execute(f"DELETE FROM {table} WHERE {form.entry_pk} = ?", (gone,))
        self.db.execute(
            f"UPDATE {form.table} SET"
            f" FBillAllAmount = (SELECT ROUND(COALESCE(SUM(FAllAmount), 0), 2) FROM {table}"
            f" WHERE {form.pk} = ?),"
            f" FBillTaxAmount = (SELECT ROUND(COALESCE(SUM(FAllAmount - FAmount), 0), 2)"
            f" FROM {table} WHERE {form.pk} = ?) WHERE {form.pk} = ?",
            (pk, pk, pk),
        )

    def _line_values(self, form: Form, raw: Any, row_number: int) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise _Invalid(f"第{row_number}行分录格式不正确", form.entry_key)
        given: dict[str, Any] = {}
        for lower, (key, value) in _lower_keys(raw).items():
            found = form.get(lower)
            if found is None or not found.entry:
                raise _Invalid(
                    f"ResolveFiled_InnerEx解析字段(Key:{key})失败：实体不存在此属性！"
                    f"[EntityType：{(form.entry_key or '')[1:]}]",
                    key,
                )
            given[found.key] = value
        try:
            values: dict[str, Any] = {form.entry_pk: int(str(given.get(form.entry_pk) or 0))}
            material = self._convert(_field(form, "FMaterialId"), given.get("FMaterialId"))
        except _Invalid as invalid:
            raise _Invalid(f"第{row_number}行：{invalid.message}", invalid.field_name) from None
        except ValueError:
            raise _Invalid(f"第{row_number}行：分录内码不正确", form.entry_pk) from None
        if material is None:
            raise _Invalid(f"第{row_number}行，字段“物料编码”是必填项", "FMaterialId")
        values["FMaterialId"] = material
        numbers: dict[str, Decimal | None] = {}
        for key in ("FQty", "FPrice", "FTaxPrice", "FEntryTaxRate"):
            try:
                numbers[key] = _decimal(_field(form, key), given.get(key))
            except _Invalid as invalid:
                raise _Invalid(f"第{row_number}行：{invalid.message}", key) from None
        qty = numbers["FQty"] or Decimal(0)
        rate = (
            numbers["FEntryTaxRate"] if numbers["FEntryTaxRate"] is not None else _DEFAULT_TAX_RATE
        )
        price, tax_price = numbers["FPrice"], numbers["FTaxPrice"]
        if price is None and tax_price is not None:
            price = (tax_price / (1 + rate / 100)).quantize(_PRICE, ROUND_HALF_UP)
        elif price is not None and tax_price is None:
            tax_price = (price * (1 + rate / 100)).quantize(_PRICE, ROUND_HALF_UP)
        price = price or Decimal(0)
        tax_price = tax_price or Decimal(0)
        values.update(
            FQty=float(qty),
            FPrice=float(price),
            FTaxPrice=float(tax_price),
            FEntryTaxRate=float(rate),
            FAmount=float((qty * price).quantize(_CENT, ROUND_HALF_UP)),
            FAllAmount=float((qty * tax_price).quantize(_CENT, ROUND_HALF_UP)),
            FEntryNote=_text(given.get("FEntryNote")),
        )
        return values

    def delete(self, form: Form, data: Mapping[str, Any]) -> dict[str, Any]:
        """Delete by ``Numbers`` or by ``Ids`` (``"1,2"`` or a list)."""
        errors: list[dict[str, Any]] = []
        successes: list[dict[str, Any]] = []
        with self.lock:
            for index, (kind, value) in enumerate(_targets(data)):
                row = self._target(form, kind, value)
                if row is None:
                    what = "编码" if kind == "number" else "内码"
                    errors.append(_error(f"{what}为“{value}”的数据不存在或已被删除", index))
                    continue
                if row["FDocumentStatus"] in ("B", "C"):
                    state = "审核中" if row["FDocumentStatus"] == "B" else "已审核"
                    number = row[form.number]
                    errors.append(_error(f"“{number}”的数据状态为{state}，不允许删除！", index))
                    continue
                user = self._referenced_by(form, row[form.pk])
                if user is not None:
                    number = row[form.number]
                    errors.append(_error(f"“{number}”已被{user}引用，不允许删除！", index))
                    continue
                self.db.execute(f"DELETE FROM {form.table} WHERE {form.pk} = ?", (row[form.pk],))
                successes.append({"Id": row[form.pk], "Number": row[form.number], "DIndex": index})
        return {"Result": {"ResponseStatus": _status(errors, successes, _MSG_VALIDATION)}}

    def operate(self, form: Form, operation: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Submit, Audit, UnAudit, and the Forbid/Enable operations of base data: each record
        (``Numbers`` or ``Ids``) moves to its new state, or is refused with K3's reason."""
        known = _OPERATIONS.get(operation.lower())
        if known is None or (known[0] == "FForbidStatus" and form.form_id == "SAL_SaleOrder"):
            error = _error(f"业务操作“{operation}”不存在或不支持", 0)
            return {"Result": {"ResponseStatus": _status([error], [], _MSG_VALIDATION)}}
        column, states, after = known
        errors: list[dict[str, Any]] = []
        successes: list[dict[str, Any]] = []
        with self.transaction():
            for index, (kind, value) in enumerate(_targets(data)):
                row = self._target(form, kind, value)
                if row is None:
                    what = "编码" if kind == "number" else "内码"
                    errors.append(_error(f"{what}为“{value}”的数据不存在或已被删除", index))
                    continue
                state = str(row[column])
                if state not in states:
                    name = _STATUS_NAMES.get(state, state)
                    message = f"“{row[form.number]}”的数据状态为{name}，不能执行{operation}操作！"
                    errors.append(_error(message, index))
                    continue
                self.db.execute(
                    f"UPDATE {form.table} SET {column} = ?, FModifyDate = ? WHERE {form.pk} = ?",
                    (after, self.clock.next(), row[form.pk]),
                )
                successes.append({"Id": row[form.pk], "Number": row[form.number], "DIndex": index})
        return {"Result": {"ResponseStatus": _status(errors, successes, _MSG_VALIDATION)}}

    def _target(self, form: Form, kind: str, value: str) -> sqlite3.Row | None:
        if kind == "number":
            return self._find(form, number=value)
        return self._find(form, pk=int(value)) if value.isdigit() else None

    def _referenced_by(self, form: Form, pk: int) -> str | None:
        """The caption of a form whose records reference this record, if any does."""
        for other in FORMS.values():
            for found in other.fields:
                if found.kind is not Kind.REF or REFS[found.target or ""].form_id != form.form_id:
                    continue
                table = other.entry_table if found.entry else other.table
                used = self.db.execute(
                    f"SELECT 1 FROM {table} WHERE {found.key} = ? LIMIT 1", (pk,)
                ).fetchone()
                if used is not None:
                    return other.caption
        return None

    def delete_direct(self, form: Form, number: str) -> bool:
        with self.lock:
            cursor = self.db.execute(f"DELETE FROM {form.table} WHERE {form.number} = ?", (number,))
            return cursor.rowcount > 0

    def set_modify_date(self, form: Form, numbers: Sequence[str], when: str) -> int:
        stamp = normalise_moment(when, Kind.DATETIME)
        with self.lock:
            changed = 0
            for number in numbers:
                cursor = self.db.execute(
                    f"UPDATE {form.table} SET FModifyDate = ? WHERE {form.number} = ?",
                    (stamp, number),
                )
                changed += cursor.rowcount
        self.clock.saw(stamp)
        return changed

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _targets(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The records an operation names: ``Numbers`` (a list), else ``Ids`` (``"1,2"`` or a
    list)."""
    numbers = data.get("Numbers") or []
    if numbers:
        return [("number", str(number)) for number in numbers]
    ids = data.get("Ids") or ""
    items = ids if isinstance(ids, list) else str(ids).split(",")
    return [("id", str(item).strip()) for item in items if str(item).strip()]


def _exact(value: Any) -> Any:
    """A stored number as the connector reads it from JSON (a Decimal of its shortest text)."""
    return Decimal(repr(value)) if isinstance(value, float) else value


# --------------------------------------------------------------------------------------------
# HTTP


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    content_type: str = "application/json; charset=utf-8"


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class _Session:
    last_seen: float
    generation: int


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            self.close_connection = True  # the client went away (a killed process, a timeout)

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}; {value}" if key in headers else value
            reply = self.server.emulator.handle(method, self.path, headers, body)
        except Exception:  # a bug of the emulator answers 500, as IIS would
            log.exception("the emulator failed on %s %s", method, self.path)
            reply = _Reply(500, b"Internal Server Error", content_type="text/plain")
        if reply.delay:
            time.sleep(reply.delay)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: KingdeeEmulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (killed, timed out) is normal here; anything
        else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class KingdeeEmulator:
    """A K3 Cloud WebAPI server on ``host``:``port`` (0 = any free port).

    ``seed`` = ``{"customers": N, "orders": M, "materials": K, "seed": S}`` fills a new database
    with deterministic, realistic data (materials default to ``max(20, M // 20)``; ``seed`` is
    the random seed). ``data_path`` keeps the data in a SQLite file (seeded only when empty).
    """

    DEFAULT_ACCT_ID: ClassVar[str] = "6650c3a1f2e4b7"
    DEFAULT_USERNAME: ClassVar[str] = "Administrator"
    DEFAULT_PASSWORD: ClassVar[str] = "Kd-emulator-888"  # noqa: S105 - the emulator's own

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: Mapping[str, int] | None = None,
        data_path: str | None = None,
        *,
        acct_id: str = DEFAULT_ACCT_ID,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        session_timeout: float = 1200.0,
    ) -> None:
        self.host = host
        self.acct_id = acct_id
        self.username = username
        self._password = password
        self.session_timeout = session_timeout
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        """Requests received, by service name (``ValidateUser``, ``ExecuteBillQuery``...)."""
        self._counter_lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._sessions_lock = threading.Lock()
        self._clock = _Clock()
        self._store = _Store(data_path or ":memory:", self._clock, self.faults)
        options = dict(seed or {})
        unknown = set(options) - {"customers", "orders", "materials", "seed"}
        if unknown:
            raise ValueError(f"unknown seed keys: {', '.join(sorted(unknown))}")
        self._rng = random.Random(options.get("seed", 1))  # noqa: S311 - test data, not secrets
        if options and self._store.is_empty():
            orders = int(options.get("orders", 0))
            self._store.seed(
                self._rng,
                customers=int(options.get("customers", 0)),
                materials=int(options.get("materials", max(20, orders // 20))),
                orders=orders,
            )
        self._server = _Server((host, port), self)
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"KingdeeEmulator(url={self.url!r}, acct_id={self.acct_id!r})"

    # lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL clients use, ending in ``/k3cloud/``."""
        return f"http://{self.host}:{self.port}{BASE_PATH}"

    @property
    def credentials(self) -> dict[str, str]:
        """``acct_id``, ``username`` and ``password`` to log in with."""
        return {"acct_id": self.acct_id, "username": self.username, "password": self._password}

    def start(self) -> KingdeeEmulator:
        """Serve in a daemon thread; return self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"kingdee-emulator-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (or Ctrl-C)."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and close the database."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self._store.close()

    def __enter__(self) -> KingdeeEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # helpers for tests: what a user of the ERP's own screens does ---------------------------

    def edit(self, form: str, number: str, **fields: Any) -> str:
        """Change fields of a record as a user would in K3's screens (also ``FDocumentStatus``
        and ``FForbidStatus``); bumps ``FModifyDate``, which is returned. References as
        ``{"FNumber": ..}`` or the number itself."""
        found = self._form(form)
        with self._store.lock:
            row = self._store._find(found, number=number)
            if row is None:
                raise KeyError(f"{form} {number} does not exist")
            model = {found.pk: row[found.pk], **fields}
            answer = self._store.save(
                found, {"Model": model, "NeedUpDateFields": list(fields)}, batch=False, ui=True
            )
        status = answer["Result"]["ResponseStatus"]
        if not status["IsSuccess"]:
            raise ValueError("; ".join(error["Message"] for error in status["Errors"]))
        record = self.get(form, fields.get(found.number, number))
        assert record is not None  # noqa: S101 - just saved
        return str(record["FModifyDate"])

    def get(self, form: str, number: str) -> dict[str, Any] | None:
        """A record in the connector's shape (references as ``<Field>.FNumber``, sale-order
        lines under ``FSaleOrderEntry``), or None."""
        return self._store.record(self._form(form), number)

    def count(self, form: str) -> int:
        """How many records the form holds."""
        return self._store.count(self._form(form))

    def numbers(self, form: str) -> list[str]:
        """The numbers of the form's records, oldest (lowest internal id) first."""
        return self._store.numbers(self._form(form))

    def all(self, form: str) -> list[dict[str, Any]]:
        """Every record of the form in the connector's shape (see :meth:`get`), oldest first."""
        return self._store.records(self._form(form))

    def calls(self, service: str) -> int:
        """How many requests a service (``ValidateUser``, ``BatchSave``...) has received."""
        with self._counter_lock:
            return self.requests[_SERVICES.get(service.lower(), service)]

    def delete_direct(self, form: str, number: str) -> bool:
        """Delete a record whatever its status (as an administrator would); whether it was
        there."""
        return self._store.delete_direct(self._form(form), number)

    def set_modify_date(self, form: str, numbers: Sequence[str], when: str | datetime) -> int:
        """Give records one ``FModifyDate`` (for boundary tests); how many were changed."""
        text = when.isoformat(timespec="milliseconds") if isinstance(when, datetime) else when
        return self._store.set_modify_date(self._form(form), numbers, text)

    def add_records(self, form: str, count: int) -> list[str]:
        """Add ``count`` generated customers or materials now (in import batches that share a
        modification time); their numbers."""
        return self._store.add_seeded(self._rng, self._form(form), count)

    @staticmethod
    def _form(form: str) -> Form:
        found = FORMS.get(form.lower())
        if found is None:
            raise KeyError(f"the emulator has no form {form!r}")
        return found

    # the WebAPI --------------------------------------------------------------------------

    def handle(  # noqa: PLR0911 - one answer per kind of request
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        """Answer one HTTP request (``headers`` by lower-case name)."""
        path = path.split("?", 1)[0]
        if path.startswith(_ADMIN):
            return self._admin(method, path[len(_ADMIN) :], body)
        match = _SERVICE.match(path)
        if match is None:
            return _Reply(
                404, b"<h1>404 - File or directory not found.</h1>", content_type="text/html"
            )
        if method != "POST":
            return _Reply(405, b"Method Not Allowed", content_type="text/plain")
        group, service = match.group(1).lower(), _SERVICES.get(match.group(2).lower())
        with self._counter_lock:
            self.requests[service or match.group(2)] += 1
        if service is None or (group == "authservice") != (service == "ValidateUser"):
            return _Reply(
                404, b"<h1>404 - File or directory not found.</h1>", content_type="text/html"
            )
        if service == "ValidateUser":
            return self._login(body)
        refusal = self.faults.take_refusal()
        if refusal is not None:
            status, retry_after = refusal
            text = "请求过于频繁，请稍后再试" if status == 429 else "Service Unavailable"
            return _Reply(
                status,
                _json({"ErrorCode": status, "Message": text}),
                [("Retry-After", f"{retry_after:g}")],
            )
        reply = self._business(service, headers, body)
        reply.delay = self.faults.take_delay(service)
        if self.faults.take_malformed():
            reply.body = reply.body[: max(1, len(reply.body) // 2)]
        return reply

    def _business(  # noqa: PLR0911 - one answer per service
        self, service: str, headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        wrap = service == "ExecuteBillQuery"
        if not self._session_valid(headers):
            status = _status([_error(SESSION_LOST)], [], _MSG_SESSION_LOST)
            return _Reply(200, _json(self._wrapped(status, wrap)))
        try:
            form_id, operation, data = self._envelope(service, body)
        except _BadRequest as error:
            return _Reply(200, _json(self._wrapped(_status([_error(str(error))], []), wrap)))
        if service == "ExecuteBillQuery":
            try:
                return _Reply(200, _json(self._store.query({"FormId": form_id, **data})))
            except QueryError as error:
                return _Reply(200, _json(self._wrapped(_status([_error(str(error))], []), True)))
        form = FORMS.get(form_id.lower())
        if form is None:
            return _Reply(200, _json(self._wrapped(_status([_error("业务对象不存在")], []), False)))
        if service == "View":
            return _Reply(200, _json(self._store.view(form, data)))
        if service == "Delete":
            return _Reply(200, _json(self._store.delete(form, data)))
        if service in ("Submit", "Audit", "UnAudit", "ExcuteOperation"):
            operation = operation if service == "ExcuteOperation" else service
            return _Reply(200, _json(self._store.operate(form, operation, data)))
        return _Reply(200, _json(self._store.save(form, data, batch=service == "BatchSave")))

    @staticmethod
    def _wrapped(status: dict[str, Any], wrap: bool) -> Any:
        result = {"Result": {"ResponseStatus": status}}
        return [[result]] if wrap else result

    @staticmethod
    def _envelope(service: str, body: bytes) -> tuple[str, str, dict[str, Any]]:
        """The form id, the operation (of ExcuteOperation) and the data of a request:
        ``{"formid": .., "data": ..}`` (``"opNumber"`` too for ExcuteOperation), or the formal
        ``{"parameters": [formid, data], ...}`` (``[formid, opNumber, data]``); data as a JSON
        object or a JSON string."""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise _BadRequest("请求的数据不是有效的 JSON 格式") from None
        if not isinstance(request, dict):
            raise _BadRequest("请求的数据不是有效的 JSON 对象")
        lowered = {str(key).lower(): value for key, value in request.items()}
        form_id: Any = lowered.get("formid", "")
        operation: Any = lowered.get("opnumber", "")
        data: Any = lowered.get("data")
        parameters = lowered.get("parameters")
        if isinstance(parameters, list) and parameters:
            if len(parameters) == 1:
                data = parameters[0]
            elif len(parameters) >= 3 and service == "ExcuteOperation":
                form_id, operation, data = parameters[0], parameters[1], parameters[2]
            else:
                form_id, data = parameters[0], parameters[1]
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except ValueError:
                raise _BadRequest("data 不是有效的 JSON 格式") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise _BadRequest("data 应为 JSON 对象")
        if service == "ExecuteBillQuery":
            form_id = data.get("FormId") or form_id
        return str(form_id or ""), str(operation or ""), data

    # sessions -----------------------------------------------------------------------------

    def _login(self, body: bytes) -> _Reply:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        acct_id = username = password = ""
        lcid: Any = 2052
        if isinstance(request, dict):
            lowered = {str(key).lower(): value for key, value in request.items()}
            parameters = lowered.get("parameters")
            if isinstance(parameters, list):
                acct_id, username, password, lcid = [*parameters, "", "", "", 2052][:4]
            else:
                acct_id = lowered.get("acctid", "")
                username = lowered.get("username", "")
                password = lowered.get("password", "")
                lcid = lowered.get("lcid", 2052)
        if str(acct_id) != self.acct_id:
            return _Reply(200, _json(self._login_failure("数据中心不存在，请检查账套ID！")))
        if str(username) != self.username or str(password) != self._password:
            return _Reply(200, _json(self._login_failure("用户名或密码错误！")))
        session_id = str(uuid.uuid4())
        asp_id = uuid.uuid4().hex[:24]
        now = time.monotonic()
        with self._sessions_lock:
            session = _Session(now, self.faults.generation)
            self._sessions[session_id] = session
            self._sessions[asp_id] = session
        answer = {
            "Message": None,
            "MessageCode": "CheckPasswordPolicy",
            "LoginResultType": 1,
            "Context": {
                "UserLocale": "zh-CN",
                "LogLocale": "zh-CN",
                "DBid": self.acct_id,
                "DatabaseType": 3,
                "SessionId": session_id,
                "UseLanguages": [{"LocaleId": 2052, "LocaleName": "中文(简体)", "Alias": "CN"}],
                "UserId": 16394,
                "UserName": self.username,
                "CustomName": "蓝海集团",
                "DisplayVersion": "8.2.766.2",
                "DataCenterName": "蓝海集团正式账套",
                "UserToken": str(uuid.uuid4()),
                "CurrentOrganizationInfo": {
                    "ID": _seed.ORGS[0][0],
                    "AcctOrgType": "1",
                    "Name": _seed.ORGS[0][2],
                    "FunctionIds": [101, 102, 103, 104, 106, 107, 108, 109, 110, 111, 112],
                },
                "IsCH_ZH_AutoTrans": False,
                "ClientType": 32,
                "UTimeZone": {
                    "OffsetTicks": 288000000000,
                    "StandardName": "(UTC+08:00)北京，重庆，香港特别行政区，乌鲁木齐",
                    "Id": 230,
                    "Number": "1078_SYS",
                    "CanBeUsed": True,
                },
                "Gsid": None,
                "TRLevel": 0,
                "ProductEdition": 0,
                "DataCenterNumber": "BHJT",
            },
            "KDSVCSessionId": session_id,
            "FormId": None,
            "RedirectFormParam": None,
            "FormInputObject": None,
            "ErrorStackTrace": None,
            "Lcid": int(lcid) if str(lcid).isdigit() else 2052,
            "AccessToken": None,
            "KdAccessResult": None,
            "IsSuccessByAPI": True,
        }
        cookies = [
            ("Set-Cookie", f"kdservice-sessionid={session_id}; path=/"),
            ("Set-Cookie", f"ASP.NET_SessionId={asp_id}; path=/; HttpOnly; SameSite=Lax"),
        ]
        return _Reply(200, _json(answer), cookies)

    @staticmethod
    def _login_failure(message: str) -> dict[str, Any]:
        return {
            "Message": message,
            "MessageCode": "CheckPasswordPolicy",
            "LoginResultType": 0,
            "Context": None,
            "KDSVCSessionId": None,
            "FormId": None,
            "RedirectFormParam": None,
            "FormInputObject": None,
            "ErrorStackTrace": None,
            "Lcid": 0,
            "AccessToken": None,
            "KdAccessResult": None,
            "IsSuccessByAPI": False,
        }

    def _session_valid(self, headers: Mapping[str, str]) -> bool:
        candidates = [headers.get("kdservice-sessionid") or ""]
        cookie = SimpleCookie()
        with contextlib.suppress(CookieError):
            cookie.load(headers.get("cookie") or "")
        for name in ("kdservice-sessionid", "ASP.NET_SessionId"):
            if name in cookie:
                candidates.append(cookie[name].value)
        now = time.monotonic()
        with self._sessions_lock:
            for candidate in candidates:
                session = self._sessions.get(candidate) if candidate else None
                if session is None:
                    continue
                if (
                    session.generation != self.faults.generation
                    or now - session.last_seen > self.session_timeout
                ):
                    continue
                session.last_seen = now
                return True
        return False

    # the switches over HTTP --------------------------------------------------------------

    def _admin(self, method: str, what: str, body: bytes) -> _Reply:
        try:
            request = json.loads(body) if body else {}
            if what == "faults" and method == "POST":
                for action in request if isinstance(request, list) else [request]:
                    self.faults.apply(action)
                return _Reply(200, _json(self.faults.state()))
            if what == "faults":
                return _Reply(200, _json(self.faults.state()))
            if what == "requests":
                with self._counter_lock:
                    return _Reply(200, _json(dict(self.requests)))
            if what == "edit" and method == "POST":
                stamp = self.edit(request["form"], request["number"], **request.get("fields", {}))
                return _Reply(200, _json({"FModifyDate": stamp}))
        except (ValueError, TypeError, KeyError) as error:
            return _Reply(400, _json({"error": str(error)}))
        return _Reply(404, _json({"error": f"no such switch: {what}"}))


# --------------------------------------------------------------------------------------------
# Command line


def _parse_seed(text: str) -> dict[str, int]:
    seed: dict[str, int] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        seed[name.strip()] = int(value)
    return seed


def serve(
    port: int = 8090,
    seed: Mapping[str, int] | None = None,
    data_path: str | None = None,
    *,
    host: str = "127.0.0.1",
) -> None:
    """Run an emulator in the foreground (``tongbu emulator serve kingdee``): print its base URL
    and credentials, then serve until Ctrl-C."""
    emulator = KingdeeEmulator(host=host, port=port, seed=seed, data_path=data_path)
    credentials = emulator.credentials
    sys.stdout.write(f"Kingdee K3 Cloud emulator at {emulator.url}\n")
    sys.stdout.write(
        f"acct_id={credentials['acct_id']} username={credentials['username']}"
        f" password={credentials['password']}\n"
    )
    sys.stdout.flush()
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m connectors.kingdee.emulator [--port P] [--seed customers=N,orders=M]``."""
    parser = argparse.ArgumentParser(description="A Kingdee K3 Cloud WebAPI emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 = any free port")
    parser.add_argument(
        "--seed", type=_parse_seed, default=None, help="e.g. customers=1000,orders=200,seed=7"
    )
    parser.add_argument("--data", default=None, help="a SQLite file to keep the data in")
    options = parser.parse_args(argv)
    serve(options.port, options.seed, options.data, host=options.host)


if __name__ == "__main__":
    main()
