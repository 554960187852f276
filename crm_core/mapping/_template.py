"""Templates: ``"{name} ({city})"``, ``"CRM-{id:hex12}"``.

A template is text with ``{field}`` places (``{{`` and ``}}`` are literal braces). Field names
are taken whole, dots included (``{FCustId.FNumber}`` names that external field). One format
exists, for record ids: ``{id:hex}`` is the id's 32 hex digits, ``{id:hexN}`` its last N (the
random part of a UUIDv7: the first digits are its creation time, shared by records created in the
same millisecond). An empty value renders as nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

__all__ = ["Template", "TemplateError"]

_PLACE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_HEX = re.compile(r"^hex(\d{1,2})?$")


class TemplateError(ValueError):
    """A template that cannot be read."""


class Template:
    """A parsed template; :meth:`bind` makes the function that fills it from a record."""

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[str | tuple[str, Callable[[Any], str]]] = []
        names: list[str] = []
        formats: dict[str, str] = {}
        position = 0
        for found in _PLACE.finditer(text):
            literal = text[position : found.start()]
            position = found.end()
            token = found.group(0)
            if token in ("{{", "}}"):
                literal += token[0]
            elif token in ("{", "}"):
                raise TemplateError(f"unmatched {token!r} in template {text!r} (write {token * 2})")
            if literal:
                parts.append(literal)
            if found.group(1) is None:
                continue
            name, _, spec = found.group(1).strip().partition(":")
            name = name.strip()
            if not name:
                raise TemplateError(f"empty {{}} in template {text!r}: name a field")
            spec = spec.strip()
            parts.append((name, _formatter(spec, text)))
            names.append(name)
            if spec:
                formats[name] = spec
        if position < len(text):
            parts.append(text[position:])
        self.names = tuple(dict.fromkeys(names))
        """The field names the template uses, in order of first use."""
        self.formats = formats
        """The format given to each name that has one (``{"id": "hex12"}``)."""
        self._parts = tuple(parts)

    def bind(
        self, reader: Callable[[str], Callable[[Mapping[str, Any]], Any]], *, strict: bool = False
    ) -> Callable[[Mapping[str, Any]], str]:
        """A function filling the template from a record, reading each name with
        ``reader(name)``. An empty or missing value renders as nothing, or with ``strict``
        raises ValueError naming the field."""
        parts = tuple(
            part if isinstance(part, str) else (part[0], reader(part[0]), part[1])
            for part in self._parts
        )
        text = self.text

        def render(record: Mapping[str, Any]) -> str:
            pieces: list[str] = []
            for part in parts:
                if isinstance(part, str):
                    pieces.append(part)
                    continue
                name, read, form = part
                value = read(record)
                if value is None or value == "":
                    if strict:
                        raise ValueError(f"the template {text!r} needs {name}, which is empty")
                    continue
                pieces.append(form(value))
            return "".join(pieces)

        return render


def _formatter(spec: str, text: str) -> Callable[[Any], str]:
    if not spec:
        return _text
    found = _HEX.match(spec)
    if found is None:
        raise TemplateError(f"unknown format {spec!r} in template {text!r} (known: hex, hexN)")
    digits = int(found.group(1) or 32)
    if not 1 <= digits <= 32:
        raise TemplateError(f"{spec!r} in template {text!r}: N is 1 to 32")

    def hex_digits(value: Any) -> str:
        identifier = value if isinstance(value, UUID) else UUID(str(value))
        return identifier.hex[-digits:]

    return hex_digits


def _text(value: Any) -> str:
    return str(value)
