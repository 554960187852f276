"""Loading a mapping file: read the YAML, check its shape with pydantic, compile it, and report
every problem with the file, the line and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from crm_core.mapping._compile import compile_mapping
from crm_core.mapping._compiled import CompiledMapping
from crm_core.mapping._errors import MappingError
from crm_core.mapping._spec import (
    ConflictRule,
    FieldSpec,
    LinesSpec,
    LookupSpec,
    MappingSpec,
    ModifiedSpec,
)
from crm_core.mapping._values import show
from crm_core.mapping._yaml import Loc, Problem, describe_loc, line_of, read_yaml

__all__ = ["load_mapping"]


def load_mapping(path: str | Path) -> CompiledMapping:
    """Load, validate and compile a mapping file (``mappings/<system>/<entity>.yaml``).

    Raises :class:`~crm_core.mapping.MappingError` listing every problem, each as
    ``<file>, line <n>, <field>: <what is wrong>``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise MappingError([f"{path}: cannot read the file: {reason}"]) from None
    data, lines, problems, syntax_line = read_yaml(text)
    if syntax_line is not None:
        raise MappingError(
            [f"{path}, line {syntax_line}: {problem.message}" for problem in problems]
        )
    if not isinstance(data, dict):
        found = "nothing" if data is None else type(data).__name__
        message = f"a mapping file holds keys (system, crm_entity, ...), not {found}"
        raise MappingError(_describe(path, [*problems, Problem((), message)], lines))
    try:
        spec = MappingSpec.model_validate(data)
    except ValidationError as error:
        # Report the shape problems and what the well-shaped parts have wrong, all at once.
        shape = _pydantic_problems(error)
        _, more = compile_mapping(_salvage(data), path)
        reported = [problem.loc for problem in shape]
        problems += shape
        problems += [p for p in more if not any(p.loc[: len(r)] == r for r in reported)]
        raise MappingError(_describe(path, problems, lines)) from None
    compiled, compile_problems = compile_mapping(spec, path)
    problems += compile_problems
    if problems or compiled is None:
        raise MappingError(_describe(path, problems, lines))
    return compiled


def _describe(path: Path, problems: list[Problem], lines: dict[Loc, int]) -> list[str]:
    described = []
    for loc, message, line in problems:
        number = line or line_of(lines, loc)
        where = f"{path}, line {number}"
        text = f"{where}, {describe_loc(loc)}: {message}" if loc else f"{where}: {message}"
        described.append((number, text))
    return [text for _, text in sorted(described, key=lambda item: item[0])]


def _pydantic_problems(error: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for detail in error.errors(include_url=False):
        loc: Loc = tuple(detail["loc"])
        kind = detail["type"]
        given = detail.get("input")
        if kind == "missing":
            message = "missing"
            if loc == ("conflict",):
                rules = ", ".join(rule.value for rule in ConflictRule)
                message += f" (who wins when both sides changed a field: {rules})"
        elif kind == "extra_forbidden":
            known = ", ".join(_model_at(loc[:-1]).model_fields)
            message = f"unknown key {loc[-1]!r} (known: {known})"
        elif kind in ("literal_error", "enum"):
            expected = (detail.get("ctx") or {}).get("expected", "")
            message = f"{show(given)} is not allowed: expected {expected}"
        elif kind == "too_short":
            message = "give at least one field"
        else:
            text = detail["msg"].removeprefix("Value error, ")
            message = text[:1].lower() + text[1:]
            if kind.endswith("_type"):
                message += f", got {show(given)}"
        problems.append(Problem(loc, message))
    return problems


def _model_at(loc: Loc) -> type[BaseModel]:
    """The model of the mapping a location names (for the keys it knows)."""
    model: type[BaseModel] = MappingSpec
    nested: dict[str, type[BaseModel]] = {
        "fields": FieldSpec,
        "lines": LinesSpec,
        "lookup": LookupSpec,
        "modified": ModifiedSpec,
    }
    for part in loc:
        if isinstance(part, str) and part in nested:
            model = nested[part]
    return model


def _salvage(data: dict[Any, Any]) -> MappingSpec:
    """The well-shaped parts of a file that failed validation, so their meaning is checked too:
    each key that validates on its own, each field that does (None for one that does not, so
    the others keep their index). A missing or wrong key gets its default or a stand-in; the
    problems compiling finds under a key already reported are dropped."""
    return MappingSpec.model_construct(**_valid_keys(MappingSpec, data))


def _valid_keys(model: type[BaseModel], data: dict[Any, Any]) -> dict[str, Any]:
    valid: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.is_required():
            valid[name] = _PLACEHOLDERS[name]
        else:
            valid[name] = info.get_default(call_default_factory=True)
        if name not in data:
            continue
        value = data[name]
        if name == "fields":
            items = value if isinstance(value, list) else []
            valid[name] = [_valid_or_none(FieldSpec, item) for item in items]
        elif name == "lines" and isinstance(value, dict):
            valid[name] = LinesSpec.model_construct(**_valid_keys(LinesSpec, value))
        else:
            try:
                adapter: TypeAdapter[Any] = TypeAdapter(info.rebuild_annotation())
                valid[name] = adapter.validate_python(value)
            except ValidationError:
                continue
    return valid


_PLACEHOLDERS: dict[str, Any] = {
    "system": "?",
    "external_entity": "?",
    "crm_entity": "?",
    "key": "?",
    "conflict": ConflictRule.MANUAL,
    "fields": [],
    "external": "?",
    "parent": "?",
}
"""Stand-ins for required keys that are missing or wrong (the problems they cause are under
the reported key, so they are dropped)."""


def _valid_or_none(model: type[BaseModel], value: Any) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError:
        return None
