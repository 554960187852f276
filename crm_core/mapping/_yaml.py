"""Reading a mapping file: YAML to plain values, with the line of every key and item.

The loader resolves plain scalars as YAML 1.2 does, not YAML 1.1: only ``true``/``false`` are
booleans (``yes``, ``no``, ``on``, ``off``, ``Y`` and ``N`` stay text, so a value map can use
them as codes), and only plain decimal digits are integers (``010`` stays the text ``"010"``,
never octal 8; ``1:20`` is not sexagesimal). A key given twice is an error, not a silent
overwrite.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["Loc", "Problem", "describe_loc", "line_of", "read_yaml"]

Loc = tuple[str | int, ...]
"""Where a value sits in the document: keys and list indexes from the top."""


class Problem(NamedTuple):
    """A problem found in a document, at a location (and at ``line``, when it is not the
    location's own line)."""

    loc: Loc
    message: str
    line: int | None = None


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _Loader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 core booleans and numbers."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in {_BOOL, _INT, _FLOAT}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), None)
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), None)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9]+[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    None,
)


def read_yaml(text: str) -> tuple[Any, dict[Loc, int], list[Problem], int | None]:
    """The document in ``text``, the line (1-based) of every key and list item by location,
    the problems found while reading it (duplicate keys), and the line of a syntax error (None
    when there is none; the caller reports it). An empty document is None."""
    loader = _Loader(text)
    lines: dict[Loc, int] = {(): 1}
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines, problems, None
        return _convert(loader, node, (), lines, problems), lines, problems, None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = error.problem or error.context or "not valid YAML"
        problems.append(Problem((), f"{reason} (not valid YAML)"))
        return None, lines, problems, line
    except yaml.YAMLError as error:  # pragma: no cover - every parser error carries a mark
        problems.append(Problem((), f"not valid YAML: {error}"))
        return None, lines, problems, 1
    finally:
        loader.dispose()


def _convert(
    loader: _Loader, node: Node, loc: Loc, lines: dict[Loc, int], problems: list[Problem]
) -> Any:
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)  # YAML merge keys (<<: *base)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            where = (*loc, key)
            if key in result:
                message = f"duplicate key {key!r} (first given on line {lines[where]})"
                problems.append(Problem(where, message, key_node.start_mark.line + 1))
                continue
            lines[where] = key_node.start_mark.line + 1
            result[key] = _convert(loader, value_node, where, lines, problems)
        return result
    if isinstance(node, SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*loc, index)] = item.start_mark.line + 1
            items.append(_convert(loader, item, (*loc, index), lines, problems))
        return items
    if isinstance(node, ScalarNode):
        return loader.construct_object(node, deep=True)
    return None  # pragma: no cover - a composed node is one of the three kinds


def line_of(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of ``loc``, or of the nearest enclosing value that has one."""
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return 1


def describe_loc(loc: Loc) -> str:
    """``("fields", 2, "transforms", 0)`` as ``fields[2].transforms[0]``."""
    text = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
