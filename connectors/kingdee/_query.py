"""ExecuteBillQuery for the emulator: FieldKeys, FilterString and OrderString to safe SQL.

K3 Cloud hands the FilterString to its database nearly as written. The emulator parses the
subset real clients use — ``field op literal`` with ``= <> != > >= < <=``, ``[NOT] LIKE``,
``[NOT] IN (...)``, ``IS [NOT] NULL``, ``BETWEEN``, ``AND``/``OR``/``NOT`` and parentheses, and
the array-of-conditions form — and compiles it to SQL where every field name comes from the
form's whitelist and every literal is a bound parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.kingdee._forms import REFS, Form, FormField, Kind

__all__ = ["QueryError", "Select", "filter_from_conditions", "normalise_moment"]


class QueryError(Exception):
    """A query K3 would refuse; the message is K3's wording."""


_DATE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
)
_BAD_MOMENT = "从字符串转换日期和/或时间时，转换失败。"


def normalise_moment(value: Any, kind: Kind) -> str:
    """A date or moment in the one text form the emulator stores (so text order is time order):
    ``YYYY-MM-DDTHH:MM:SS.fff`` for moments, ``YYYY-MM-DDT00:00:00`` for days."""
    text = str(value).strip()
    if "." in text:  # SQL Server keeps milliseconds; drop what strptime cannot take
        head, _, fraction = text.rpartition(".")
        text = f"{head}.{fraction[:6]}"
    for pattern in _DATE_FORMATS:
        try:
            moment = datetime.strptime(text, pattern)  # noqa: DTZ007 - K3 moments have no zone
        except ValueError:
            continue
        if kind is Kind.DATE:
            return moment.strftime("%Y-%m-%dT%H:%M:%S")
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    raise QueryError(_BAD_MOMENT)


def unknown_field(key: str) -> QueryError:
    """K3's answer to a field key it does not know."""
    return QueryError(f"元数据中标识为{key}的字段不存在")


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>[Nn]?'(?:[^']|'')*')
      | (?P<num>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<op><>|!=|>=|<=|=|>|<)
      | (?P<lp>\()
      | (?P<rp>\))
      | (?P<comma>,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: Any = None


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"'{text[position : position + 20].strip()}' 附近有语法错误。")
        kind = match.lastgroup or ""
        raw = match.group(kind)
        value: Any = None
        if kind == "str":
            value = raw[raw.index("'") + 1 : -1].replace("''", "'")
        elif kind == "num":
            value = raw
        elif kind == "name":
            value = raw
            if raw.upper() in {"AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "BETWEEN"}:
                kind = raw.upper()
        tokens.append(_Token(kind, raw, value))
        position = match.end()
    return tokens


Node = tuple[Any, ...]
"""A node of a filter's syntax tree: a tuple whose first item names it — or, and, not, cmp
(key, operator, value), in (key, values, negated), like (key, pattern, negated), null (key,
negated), between (key, low, high), keyset ((key1, key2), (value1, value2)), true."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def parse(self) -> Node:
        if not self.tokens:
            return ("true",)
        node = self._or()
        if self.position != len(self.tokens):
            raise self._error()
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, *kinds: str) -> _Token:
        token = self._peek()
        if token is None or token.kind not in kinds:
            raise self._error()
        self.position += 1
        return token

    def _error(self) -> QueryError:
        token = self._peek()
        near = token.text if token is not None else (self.tokens[-1].text if self.tokens else "")
        return QueryError(f"'{near}' 附近有语法错误。")

    def _or(self) -> Node:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.kind == "OR":
            self.position += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def _and(self) -> Node:
        parts = [self._not()]
        while (token := self._peek()) is not None and token.kind == "AND":
            self.position += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def _not(self) -> Node:
        token = self._peek()
        if token is not None and token.kind == "NOT":
            self.position += 1
            return ("not", self._not())
        if token is not None and token.kind == "lp":
            self.position += 1
            node = self._or()
            self._take("rp")
            return node
        return self._condition()

    def _literal(self) -> Any:
        return self._take("str", "num").value

    def _condition(self) -> Node:
        key = self._take("name").value
        token = self._take("op", "IN", "LIKE", "IS", "NOT", "BETWEEN")
        if token.kind == "op":
            return ("cmp", key, "<>" if token.text == "!=" else token.text, self._literal())
        if token.kind == "IS":
            negated = self._peek() is not None and self._take("NOT", "NULL").kind == "NOT"
            if negated:
                self._take("NULL")
            return ("null", key, negated)
        if token.kind == "BETWEEN":
            low = self._literal()
            self._take("AND")
            return ("between", key, low, self._literal())
        negated = token.kind == "NOT"
        if negated:
            token = self._take("IN", "LIKE")
        if token.kind == "LIKE":
            return ("like", key, self._literal(), negated)
        self._take("lp")
        values = [self._literal()]
        while self._take("comma", "rp").kind == "comma":
            values.append(self._literal())
        return ("in", key, values, negated)


def _keyset(node: Node) -> Node:
    """``a > x OR (a = x AND b > y)`` as one row comparison ``(a, b) > (x, y)``, which the
    database answers with an index seek instead of a scan (what every keyset pager sends)."""
    if node[0] != "or" or len(node[1]) != 2:
        return node
    first, second = node[1]
    if first[0] != "cmp" or first[2] != ">" or second[0] != "and" or len(second[1]) != 2:
        return node
    equal, after = second[1]
    if (
        equal[0] == "cmp"
        and after[0] == "cmp"
        and equal[2] == "="
        and after[2] == ">"
        and equal[1].lower() == first[1].lower()
        and equal[3] == first[3]
    ):
        return ("keyset", (first[1], after[1]), (first[3], after[3]))
    return node


_COMPARE_WORDS = {
    "=": "=",
    "==": "=",
    "<>": "<>",
    "!=": "<>",
    ">": ">",
    ">=": ">=",
    "<": "<",
    "<=": "<=",
    "LIKE": "LIKE",
    "NOT LIKE": "NOT LIKE",
    "IN": "IN",
    "NOT IN": "NOT IN",
}


def _quoted(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def filter_from_conditions(conditions: Sequence[Mapping[str, Any]]) -> str:
    """The array form of FilterString (``[{"Left": "(", "FieldName": .., "Compare": ..,
    "Value": .., "Right": ")", "Logic": 0}]``, Logic 0 = AND, 1 = OR with the next condition)
    as the text form."""
    parts: list[str] = []
    for index, condition in enumerate(conditions):
        if not isinstance(condition, Mapping):
            raise QueryError("FilterString 格式不正确")
        compare = _COMPARE_WORDS.get(str(condition.get("Compare", "=")).strip().upper())
        if compare is None:
            raise QueryError(f"不支持的比较符：{condition.get('Compare')}")
        value = condition.get("Value", "")
        if compare in ("IN", "NOT IN"):
            items = value if isinstance(value, list) else str(value).split(",")
            literal = "(" + ",".join(_quoted(str(item).strip()) for item in items) + ")"
        else:
            literal = _quoted(value)
        text = f"{condition.get('Left') or ''}{condition.get('FieldName', '')} {compare} {literal}"
        parts.append(text + str(condition.get("Right") or ""))
        if index < len(conditions) - 1:
            parts.append("OR" if str(condition.get("Logic", 0)) == "1" else "AND")
    return " ".join(parts)


@dataclass
class Select:
    """One ExecuteBillQuery of one form, compiled piece by piece to SQL."""

    form: Form
    joins: dict[str, str] = field(default_factory=dict)
    uses_entry: bool = False
    params: list[Any] = field(default_factory=list)

    def resolve(self, key: str) -> tuple[str, FormField, str | None]:
        """The SQL expression of a field key, the field, and the sub-key (``FNumber``...)."""
        form = self.form
        text = key.strip()
        entry_only = False
        if form.entry_key and text.lower().startswith(form.entry_key.lower() + "_"):
            text = text[len(form.entry_key) + 1 :]
            entry_only = True
        base, _, sub = text.partition(".")
        found = form.get(base)
        if found is None or (entry_only and not found.entry):
            raise unknown_field(key)
        owner = "h"
        if found.entry:
            owner = "e"
            self.uses_entry = True
        if not sub:
            if found.kind is Kind.REF:
                return f"COALESCE({owner}.{found.key}, 0)", found, None
            return f"{owner}.{found.key}", found, None
        if found.kind is not Kind.REF or found.target is None:
            raise unknown_field(key)
        column = {"fnumber": "FNumber", "fname": "FName", "fid": "ID", "id": "ID"}.get(sub.lower())
        if column is None:
            raise unknown_field(key)
        target = REFS[found.target]
        alias = f"r_{owner}_{found.key.lower()}"
        self.joins.setdefault(
            alias,
            f"LEFT JOIN {target.table} AS {alias} ON {alias}.{target.pk} = {owner}.{found.key}",
        )
        if column == "ID":
            return f"{alias}.{target.pk}", found, "FID"
        return f"{alias}.{column}", found, column

    def columns(self, field_keys: str) -> list[str]:
        """The SELECT list of a comma-separated FieldKeys."""
        keys = [key.strip() for key in str(field_keys or "").split(",") if key.strip()]
        if not keys:
            raise QueryError("FieldKeys 不能为空")
        return [self.resolve(key)[0] for key in keys]

    def where(self, filter_string: Any) -> str:
        """The WHERE clause of a FilterString (text or the array form); binds its literals."""
        if isinstance(filter_string, list):
            filter_string = filter_from_conditions(filter_string)
        node = _keyset(_Parser(str(filter_string or "")).parse())
        return self._sql(node)

    def order(self, order_string: Any) -> str:
        """The ORDER BY list of an OrderString such as ``FModifyDate ASC, FCUSTID ASC``."""
        terms: list[str] = []
        for part in str(order_string or "").split(","):
            words = part.split()
            if not words:
                continue
            if len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
                raise QueryError(f"'{part.strip()}' 附近有语法错误。")
            direction = words[1].upper() if len(words) == 2 else "ASC"
            terms.append(f"{self.resolve(words[0])[0]} {direction}")
        if not terms:
            terms.append(f"h.{self.form.pk} ASC")
            if self.uses_entry:
                terms.append(f"e.{self.form.entry_pk} ASC")
        return ", ".join(terms)

    def from_clause(self) -> str:
        """The FROM clause: the header, the entry table when an entry field is used, the joins
        of the references used."""
        form = self.form
        sql = f"{form.table} AS h"
        if self.uses_entry and form.entry_table:
            sql += f" LEFT JOIN {form.entry_table} AS e ON e.{form.pk} = h.{form.pk}"
        joins = sorted(self.joins.items(), key=lambda item: item[0].startswith("r_e_"))
        return " ".join([sql, *(join for _, join in joins)])

    def _value(self, found: FormField, sub: str | None, value: Any) -> Any:
        if sub in ("FNumber", "FName"):
            return str(value)
        if found.kind in (Kind.DATE, Kind.DATETIME):
            return normalise_moment(value, found.kind)
        if found.kind in (Kind.INT, Kind.REF):
            try:
                return int(str(value).strip())
            except ValueError:
                raise QueryError(
                    f"在将 nvarchar 值 '{value}' 转换成数据类型 int 时失败。"
                ) from None
        if found.kind is Kind.DECIMAL:
            try:
                return float(str(value).strip())
            except ValueError:
                raise QueryError(f"从数据类型 nvarchar 转换为 numeric 时出错。({value})") from None
        return str(value)

    def _bind(self, found: FormField, sub: str | None, value: Any) -> str:
        self.params.append(self._value(found, sub, value))
        return "?"

    def _sql(self, node: Node) -> str:  # noqa: PLR0911 - one return per node type reads best
        kind = node[0]
        if kind == "true":
            return "1 = 1"
        if kind in ("or", "and"):
            glue = f" {kind.upper()} "
            return "(" + glue.join(self._sql(part) for part in node[1]) + ")"
        if kind == "not":
            return f"NOT ({self._sql(node[1])})"
        if kind == "keyset":
            (first, second), (value1, value2) = node[1], node[2]
            expr1, field1, sub1 = self.resolve(first)
            expr2, field2, sub2 = self.resolve(second)
            left = self._bind(field1, sub1, value1)
            right = self._bind(field2, sub2, value2)
            return f"(({expr1}, {expr2}) > ({left}, {right}))"
        expr, found, sub = self.resolve(node[1])
        if kind == "cmp":
            return f"{expr} {node[2]} {self._bind(found, sub, node[3])}"
        if kind == "in":
            marks = ", ".join(self._bind(found, sub, value) for value in node[2])
            return f"{expr} {'NOT IN' if node[3] else 'IN'} ({marks})"
        if kind == "like":
            self.params.append(str(node[2]))
            return f"{expr} {'NOT LIKE' if node[3] else 'LIKE'} ?"
        if kind == "null":
            return f"{expr} IS {'NOT NULL' if node[2] else 'NULL'}"
        low = self._bind(found, sub, node[2])
        return f"{expr} BETWEEN {low} AND {self._bind(found, sub, node[3])}"
