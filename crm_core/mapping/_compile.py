"""Compiling a mapping: checking what its names mean against the CRM schema, and turning each
field into a chain of steps (see :mod:`crm_core.mapping._compiled`).

Every problem is collected with its location in the file, so a file with several mistakes is
reported in one go.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from operator import methodcaller
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table

from crm_core.mapping._compiled import (
    NOTHING,
    Chain,
    CompiledLines,
    CompiledMapping,
    Lookup,
    MappedField,
    ReadFn,
    Step,
    Steps,
    Unlinked,
    crm_reader,
)
from crm_core.mapping._errors import MappingFailure
from crm_core.mapping._spec import FieldSpec, LinesSpec, MappingSpec
from crm_core.mapping._template import Template, TemplateError
from crm_core.mapping._transforms import TRANSFORMS
from crm_core.mapping._values import (
    ColumnInfo,
    Convert,
    caster,
    column_info,
    custom_caster,
    custom_exporter,
    exporter,
    to_decimal,
)
from crm_core.mapping._yaml import Loc, Problem, describe_loc
from crm_core.models import entity_classes, table_of

__all__ = ["compile_mapping"]

_HUB_KEPT = frozenset(
    (
        "id",
        "version",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "deleted_at",
        "custom",
    )
)
"""CRM columns the hub keeps itself: a mapping reads them but never writes them."""


def compile_mapping(spec: MappingSpec, path: Path) -> tuple[CompiledMapping | None, list[Problem]]:
    """The compiled mapping of a file's validated content, or the problems that prevent it."""
    problems: list[Problem] = []
    tables = {cls.__tablename__: table_of(cls) for cls in entity_classes()}
    zone = _zone(spec.timezone, ("timezone",), problems) or UTC
    header = _Scope(spec.system, zone, problems, _table(spec.crm_entity, tables, problems))
    fields = _compile_fields(spec.fields, ("fields",), header)
    inbound = tuple(name for name, _ in fields.steps.inbound)

    declared_in = {f.crm for f in spec.fields if f is not None and f.direction != "out"}
    match_keys = _match_keys(spec.match, header, declared_in)
    create_key, create_reads = _create_key(spec.create_key, header)
    modified = None
    if spec.modified is not None:
        modified_zone = zone
        if spec.modified.timezone is not None:
            loc = ("modified", "timezone")
            modified_zone = _zone(spec.modified.timezone, loc, problems) or zone
        modified = _modified_reader(spec.modified.external, modified_zone)

    lines = None
    if spec.lines is not None:
        lines = _compile_lines(spec.lines, spec.system, zone, tables, problems)

    if problems:
        return None, problems
    rules = {f.crm: f.conflict for f in fields.mapped if f.crm and f.conflict}
    if lines is not None:
        rules.update(
            {
                f"{lines.crm_entity}.{f.crm}": f.conflict
                for f in lines.fields
                if f.crm and f.conflict
            }
        )
    compiled = CompiledMapping(
        name=spec.name or f"{spec.system}-{path.stem}",
        path=path,
        system=spec.system,
        external_entity=spec.external_entity,
        crm_entity=spec.crm_entity,
        key=spec.key,
        match_keys=match_keys,
        conflict=spec.conflict,
        delete_policy=spec.deletes,
        archive_external=dict(spec.archive) if spec.archive else None,
        merge_policy=spec.merges,
        timezone=spec.timezone,
        inbound_fields=inbound,
        outbound_fields=tuple(dict.fromkeys((*fields.reads, *create_reads))),
        lines=lines,
        fields=fields.mapped,
        _steps=fields.steps,
        _rules=rules,
        _create_key=create_key,
        _modified=modified,
    )
    return compiled, problems


@dataclass
class _Scope:
    """What the fields of one entity (the header or its lines) compile against."""

    system: str
    zone: tzinfo
    problems: list[Problem]
    table: Table | None
    """None when the entity is unknown (already reported): names are not checked then."""
    reserved: Mapping[str, str] | None = None
    """CRM fields the mapping itself writes, with the reason (a line's parent and number)."""

    @property
    def entity(self) -> str:
        """The CRM entity's table name."""
        return self.table.name if self.table is not None else "?"

    def error(self, loc: Loc, message: str) -> None:
        """Report a problem."""
        self.problems.append(Problem(loc, message))

    def column(self, name: str, loc: Loc) -> ColumnInfo | bool | None:
        """The column ``name`` names: its info, None for a custom field, False when there is no
        such field (reported at ``loc``)."""
        if name.startswith("custom."):
            if name == "custom.":
                self.error(loc, "name the custom field: custom.<key>")
                return False
            return None
        if self.table is None:
            return False
        column = self.table.c.get(name)
        if column is None:
            known = [c.name for c in self.table.c]
            self.error(loc, f"{self.entity} has no field {name!r}{_suggest(name, known)}")
            return False
        return column_info(column)


@dataclass(frozen=True)
class _Fields:
    steps: Steps
    mapped: tuple[MappedField, ...]
    reads: tuple[str, ...]
    """CRM fields read outbound."""


@dataclass(frozen=True)
class _Field:
    mapped: MappedField
    inbound: tuple[str, Chain] | None = None
    outbound: tuple[str, Chain] | None = None
    in_ref: tuple[tuple[str, str], Chain] | None = None
    out_ref: tuple[tuple[str, str], Chain] | None = None
    reads: tuple[str, ...] = ()


def _compile_fields(specs: Sequence[FieldSpec | None], loc: Loc, scope: _Scope) -> _Fields:
    """Compile the fields of one entity (None stands for a field whose shape was wrong: its
    problems are reported already)."""
    compiled: list[_Field] = []
    writes_in: dict[str, Loc] = {}
    writes_out: dict[str, Loc] = {}
    for index, spec in enumerate(specs):
        where = (*loc, index)
        field = _compile_field(spec, where, scope) if spec is not None else None
        if field is None:
            continue
        for target, seen, key in (
            (field.inbound, writes_in, "crm"),
            (field.outbound, writes_out, "external"),
        ):
            if target is None:
                continue
            if target[0] in seen:
                scope.error(
                    (*where, key),
                    f"{target[0]} is already written by {describe_loc(seen[target[0]])}",
                )
            seen[target[0]] = where
        compiled.append(field)
    steps = Steps(
        inbound=tuple(f.inbound for f in compiled if f.inbound),
        outbound=tuple(f.outbound for f in compiled if f.outbound),
        in_refs=tuple(f.in_ref for f in compiled if f.in_ref),
        out_refs=tuple(f.out_ref for f in compiled if f.out_ref),
    )
    reads = tuple(dict.fromkeys(name for f in compiled for name in f.reads))
    return _Fields(steps, tuple(f.mapped for f in compiled), reads)


def _compile_lines(
    spec: LinesSpec, system: str, zone: tzinfo, tables: Mapping[str, Table], problems: list[Problem]
) -> CompiledLines | None:
    table = _table(spec.crm_entity, tables, problems, ("lines", "crm_entity"))
    reserved = {spec.parent: "the engine sets it to the header's id"}
    if spec.number is not None:
        reserved[spec.number] = "the mapping numbers the lines (number:)"
    scope = _Scope(system, zone, problems, table, reserved)
    for key, name, kinds in (("parent", spec.parent, ("uuid",)), ("number", spec.number, ("int",))):
        if name is None:
            continue
        info = scope.column(name, ("lines", key))
        if info is None:
            scope.error(("lines", key), f"{key} is a column of {scope.entity}, not a custom field")
        elif isinstance(info, ColumnInfo) and info.kind not in kinds:
            wanted = "a record id column" if key == "parent" else "an integer column"
            scope.error(("lines", key), f"{info.description} is not {wanted}")
    fields = _compile_fields(spec.fields, ("lines", "fields"), scope)
    if table is None:
        return None
    number = (spec.number,) if spec.number is not None else ()
    return CompiledLines(
        crm_entity=spec.crm_entity,
        external=spec.external,
        parent=spec.parent,
        number=spec.number,
        fields=fields.mapped,
        inbound_fields=(*(name for name, _ in fields.steps.inbound), *number),
        outbound_fields=tuple(dict.fromkeys((*fields.reads, *number))),
        _steps=fields.steps,
    )


# --- one field ---------------------------------------------------------------------------------


def _compile_field(spec: FieldSpec, loc: Loc, scope: _Scope) -> _Field | None:
    count = len(scope.problems)
    kind = _field_kind(spec, loc, scope)
    if kind is None:
        return None
    one_way = kind in ("value", "template")
    _check_sides(spec, loc, scope, one_way)
    if len(scope.problems) > count:
        return None
    info: ColumnInfo | None = None
    if spec.crm is not None:
        found = scope.column(spec.crm, (*loc, "crm"))
        if found is False:
            return None
        info = found if isinstance(found, ColumnInfo) else None
        if spec.direction != "out":
            _check_writable(spec.crm, loc, scope)
    converters = _converters(spec, loc, scope)
    if converters is None or len(scope.problems) > count:
        return None
    builder = _FieldBuilder(spec, loc, scope, info, *converters)
    build: dict[str, Callable[[], _Field | None]] = {
        "value": builder.constant,
        "template": builder.template,
        "lookup": builder.lookup,
        "plain": builder.plain,
    }
    return build[kind]()


def _field_kind(spec: FieldSpec, loc: Loc, scope: _Scope) -> str | None:
    """``value``, ``template``, ``lookup`` or ``plain``, after reporting keys that do not go
    together (None: the field is not usable)."""
    given = {key for key in _KEYS_OF_KIND if getattr(spec, key) not in (None, [], {})}
    if "value" in spec.model_fields_set:
        given.add("value")
    count = len(scope.problems)
    for key, others in _CANNOT_GO_WITH.items():
        if key in given:
            for other in others:
                if other in given:
                    scope.error((*loc, other), f"{other} cannot go with {key}")
            given -= set(others)
    kind = next((key for key in ("value", "template", "lookup") if key in given), "plain")
    if kind in ("value", "template") and spec.direction == "both":
        what = "constant" if kind == "value" else "template"
        scope.error((*loc, "direction"), f"a {what} goes one way: give direction: in or out")
    if spec.conflict is not None and spec.direction == "out":
        scope.error((*loc, "conflict"), "an out field is never written to the CRM: no conflict")
    if spec.function is not None and spec.direction == "out":
        scope.error((*loc, "function"), "function runs inbound; an out field takes reverse")
    if spec.reverse is not None and spec.direction == "in":
        scope.error((*loc, "reverse"), "reverse runs outbound; an in field takes function")
    return kind if len(scope.problems) == count else None


_CANNOT_GO_WITH = {
    "value": ("transforms", "map", "default", "scale", "lookup", "cast", "template", "function",
              "reverse"),
    "template": ("map", "scale", "lookup", "function", "reverse"),
    "lookup": ("map", "scale", "cast", "default", "function", "reverse"),
    "map": ("scale", "cast"),
}  # fmt: skip
"""Keys that cannot go with a key (the first one given takes the blame)."""
_KEYS_OF_KIND = frozenset(key for keys in _CANNOT_GO_WITH.values() for key in keys) | {"map"}


def _check_sides(spec: FieldSpec, loc: Loc, scope: _Scope, one_way: bool) -> None:
    """Which sides a field names: inbound it writes a CRM field, outbound an external one; it
    reads the other side, unless it is a constant or a template."""
    needs_crm = spec.direction != "out" or not one_way
    needs_external = spec.direction != "in" or not one_way
    for key, needed, value in (
        ("crm", needs_crm, spec.crm),
        ("external", needs_external, spec.external),
    ):
        if needed and value is None:
            scope.error((*loc, key), _missing_side(key, spec.direction, one_way))
        if not needed and value is not None:
            source = "constant" if spec.template is None else "template"
            scope.error((*loc, key), f"an {spec.direction} {source} takes no {key} key")


def _converters(
    spec: FieldSpec, loc: Loc, scope: _Scope
) -> tuple[list[Convert], list[Convert]] | None:
    """The named transforms and the escape-hatch functions: inbound (before the CRM cast) and
    outbound (after the external form)."""
    transforms = []
    for index, name in enumerate(spec.transforms):
        transform = TRANSFORMS.get(name)
        if transform is None:
            known = ", ".join(TRANSFORMS)
            scope.error((*loc, "transforms", index), f"unknown transform {name!r} (known: {known})")
        else:
            transforms.append(transform)
    function = _import(spec.function, (*loc, "function"), scope)
    reverse = _import(spec.reverse, (*loc, "reverse"), scope)
    if len(transforms) < len(spec.transforms):
        return None
    inbound = [function] if function else []
    outbound = [reverse] if reverse else []
    return (
        [*inbound, *(t.to_crm for t in transforms)],
        [*(t.to_external for t in reversed(transforms)), *outbound],
    )


def _missing_side(key: str, direction: str, one_way: bool) -> str:
    if key == "crm":
        if one_way:
            return "an in constant or template needs crm: the CRM field it writes"
        what = "writes" if direction == "in" else "reads" if direction == "out" else "maps"
        return f"give crm: the CRM field this field {what}"
    if one_way:
        return "an out constant or template needs external: the field it writes"
    what = "reads" if direction == "in" else "writes" if direction == "out" else "maps"
    return f"give external: the external field this field {what}"


def _check_writable(crm: str, loc: Loc, scope: _Scope) -> None:
    if crm in _HUB_KEPT:
        scope.error(
            (*loc, "crm"),
            f"{crm} is kept by the hub and is not written by a mapping"
            + (" (map a custom field as custom.<key>)" if crm == "custom" else ""),
        )
    elif scope.reserved and crm in scope.reserved:
        scope.error((*loc, "crm"), f"{crm} is not mapped: {scope.reserved[crm]}")


@dataclass
class _FieldBuilder:
    """Builds the chains of one field whose names have been checked."""

    spec: FieldSpec
    loc: Loc
    scope: _Scope
    info: ColumnInfo | None
    """The CRM column (None: a custom field, or no CRM side)."""
    pre_in: list[Convert]
    """Function and transforms, inbound, before the value reaches its CRM form."""
    post_out: list[Convert]
    """Transforms and reverse function, outbound, after the value has its external form."""

    @property
    def mapped(self) -> MappedField:
        lookup = None
        if self.spec.lookup is not None:
            lookup = (self.spec.lookup.system or self.scope.system, self.spec.lookup.entity)
        spec = self.spec
        return MappedField(spec.crm, spec.external, spec.direction, spec.conflict, lookup)

    @property
    def inbound(self) -> bool:
        return self.spec.direction in ("in", "both")

    @property
    def outbound(self) -> bool:
        return self.spec.direction in ("out", "both")

    def error(self, key: str | int | tuple[str | int, ...], message: str) -> None:
        loc = (*self.loc, *(key if isinstance(key, tuple) else (key,)))
        self.scope.error(loc, message)

    def cast(self) -> Convert | None:
        """The inbound cast to the CRM side's type (None after reporting a wrong ``cast``)."""
        info, cast = self.info, self.spec.cast
        if info is None:
            return custom_caster(cast, self.scope.zone)
        if cast is not None and cast != info.kind:
            self.error("cast", f"cast: {cast} does not fit {info.description}; leave it out")
            return None
        return caster(info, self.scope.zone)

    def required(self) -> str | None:
        """The message for an empty value of a required (NOT NULL) column; None if optional."""
        info = self.info
        if info is None or info.nullable:
            return None
        return f"no value, and {info.qualified} needs one"

    def crm_value(self, where: str | tuple[str | int, ...], value: Any, cast: Convert) -> Any:
        """A CRM value given in the file (a default, a map value, a constant), cast now."""
        try:
            return cast(value)
        except (ValueError, TypeError, ArithmeticError) as error:
            self.error(where, str(error))
            return NOTHING

    def default(self, cast: Convert) -> Any:
        """The ``default:`` as a CRM value (NOTHING when none is given, None if it is wrong)."""
        if self.spec.default is None:
            return NOTHING
        value = self.crm_value("default", self.spec.default, cast)
        return None if value is NOTHING else value

    def read_crm(self) -> Chain:
        """The chain start reading the CRM field from a record's values."""
        crm = self._crm
        return Chain(read=crm_reader(crm)) if crm.startswith("custom.") else Chain(source=crm)

    # -- kinds of field

    def constant(self) -> _Field | None:
        value = self.spec.value
        if self.spec.direction == "out":
            return _Field(self.mapped, outbound=(self._external, Chain(constant=value)))
        cast = self.cast()
        if cast is None:
            return None
        constant = self.crm_value("value", value, cast)
        if constant is NOTHING:
            return None
        if constant is None and self.required():
            self.error("value", f"{self.info.qualified if self.info else ''} needs a value")
            return None
        return _Field(self.mapped, inbound=(self._crm, Chain(constant=constant)))

    def template(self) -> _Field | None:
        try:
            template = Template(self.spec.template or "")
        except TemplateError as error:
            self.error("template", str(error))
            return None
        count = len(self.scope.problems)
        if self.spec.direction == "out":
            for key in ("default", "cast"):
                if getattr(self.spec, key) is not None:
                    self.error(key, f"{key} applies inbound; an out template takes none")
            for name in template.names:
                self.scope.column(name, (*self.loc, "template"))
            if len(self.scope.problems) > count:
                return None
            chain = Chain(read=template.bind(crm_reader), steps=_steps(self.post_out))
            return _Field(self.mapped, outbound=(self._external, chain), reads=template.names)
        cast = self.cast()
        default = self.default(cast) if cast is not None else None
        if cast is None or default is None:
            return None
        read = template.bind(_external_reader)
        chain = Chain(read=read, steps=_steps([*self.pre_in, cast]), default=default)
        return _Field(self.mapped, inbound=(self._crm, replace(chain, required=self.required())))

    def lookup(self) -> _Field | None:
        spec, info = self.spec, self.info
        assert spec.lookup is not None  # noqa: S101 - the caller checked
        system, entity = spec.lookup.system or self.scope.system, spec.lookup.entity
        if info is None or info.kind != "uuid":
            column = info.description if info is not None else f"the custom field {spec.crm}"
            self.error("lookup", f"a lookup writes a record id, and {column} does not hold one")
            return None
        noun = _noun(self.scope.table, self._crm)
        field = _Field(self.mapped, reads=(self._crm,) if self.outbound else ())
        if self.inbound:
            pre = Chain(source=self._external, steps=_steps(self.pre_in))
            find = (_lookup_in(system, entity, noun), True)
            chain = replace(pre, steps=(*pre.steps, find), required=self.required())
            field = replace(field, inbound=(self._crm, chain), in_ref=((system, entity), pre))
        if self.outbound:
            read = self.read_crm()
            find = (_lookup_out(system, entity, noun), True)
            chain = replace(read, steps=(find, *_steps(self.post_out)))
            field = replace(
                field, outbound=(self._external, chain), out_ref=((system, entity), read)
            )
        return field

    def plain(self) -> _Field | None:
        spec = self.spec
        cast = self.cast()
        default = self.default(cast) if cast is not None else None
        if cast is None or default is None or not self._scale_fits():
            return None
        table: dict[str, Any] = {}
        inverse: dict[Any, Any] = {}
        if spec.map is not None:
            if not self._value_map(spec.map, cast, table, inverse):
                return None
            if default is not NOTHING and self.outbound and default not in inverse:
                self.error("default", f"the default {default!r} is not a value of the map")
                return None
        field = _Field(self.mapped, reads=(self._crm,) if self.outbound else ())
        if self.inbound:
            if spec.map is not None:
                steps, default_in = [_map_in(table, default)], NOTHING
            else:
                scale = [_scale_in(spec.scale)] if spec.scale is not None else []
                steps, default_in = [*scale, cast], default
            chain = Chain(
                source=self._external,
                steps=_steps([*self.pre_in, *steps]),
                default=default_in,
                required=self.required(),
            )
            field = replace(field, inbound=(self._crm, chain))
        if self.outbound:
            steps = [] if default is NOTHING else [_default_out(default)]
            steps += [_map_out(inverse)] if spec.map is not None else self._export()
            chain = replace(self.read_crm(), steps=_steps([*steps, *self.post_out]))
            field = replace(field, outbound=(self._external, chain))
        return field

    def _scale_fits(self) -> bool:
        if self.spec.scale is None:
            return True
        info = self.info
        if (info.kind if info is not None else self.spec.cast) in ("decimal", "int"):
            return True
        what = info.description if info is not None else "a custom field without cast"
        self.error("scale", f"scale needs a number, and {what} is not one")
        return False

    def _export(self) -> list[Convert]:
        """Outbound, from a CRM value to its external form: scale back, then JSON-friendly."""
        steps = [_scale_out(self.spec.scale)] if self.spec.scale is not None else []
        if self.info is not None:
            export = exporter(self.info, self.scope.zone)
        else:
            export = custom_exporter(self.spec.cast, self.scope.zone)
        return [*steps, export] if export is not None else steps

    def _value_map(
        self,
        value_map: Mapping[Any, Any],
        cast: Convert,
        table: dict[str, Any],
        inverse: dict[Any, Any],
    ) -> bool:
        count = len(self.scope.problems)
        for key, crm_value in value_map.items():
            where = ("map", key)
            if isinstance(key, float) or key is None:
                self.error(where, f"a map key is a code (text or a whole number), not {key!r}")
                continue
            value = self.crm_value(where, crm_value, cast)
            if value is NOTHING:
                continue
            text = _key_text(key)
            if text in table:
                self.error(where, f"{key!r} is in the map twice")
                continue
            table[text] = value
            if not self.outbound or value is None:
                continue
            try:
                earlier = inverse.setdefault(value, key)
            except TypeError:
                self.error(where, f"the map value {crm_value!r} is not a single value")
                continue
            if earlier is not key:
                self.error(
                    where,
                    f"the map is not one-to-one: {earlier!r} and {key!r} both give {value!r}; "
                    "a field that goes out needs one external value per CRM value "
                    "(or make it direction: in)",
                )
        return len(self.scope.problems) == count

    @property
    def _crm(self) -> str:
        assert self.spec.crm is not None  # noqa: S101 - checked before building
        return self.spec.crm

    @property
    def _external(self) -> str:
        assert self.spec.external is not None  # noqa: S101 - checked before building
        return self.spec.external


# --- the steps ---------------------------------------------------------------------------------


def _steps(functions: Iterable[Convert]) -> tuple[Step, ...]:
    return tuple((function, False) for function in functions)


def _key_text(key: Any) -> str:
    """A value map's key, or an external value looked up in it, as text: codes match whether a
    system sends ``1`` or ``"1"``."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return key if isinstance(key, str) else str(key)


def _map_in(table: Mapping[str, Any], default: Any) -> Convert:
    known = ", ".join(repr(key) for key in list(table)[:12]) + (", ..." if len(table) > 12 else "")
    fallback = None if default is NOTHING else default

    def map_in(value: Any) -> Any:
        if value is None or value == "":
            return fallback
        found = table.get(value if type(value) is str else _key_text(value), NOTHING)
        if found is not NOTHING:
            return found
        if default is not NOTHING:
            return default
        raise ValueError(f"{value!r} is not in the value map (known: {known})")

    return map_in


def _map_out(inverse: Mapping[Any, Any]) -> Convert:
    known = ", ".join(repr(key) for key in list(inverse)[:12])

    def map_out(value: Any) -> Any:
        if value is None:
            return None
        try:
            return inverse[value]
        except (KeyError, TypeError):
            raise ValueError(
                f"{value!r} has no external value in the map (known: {known})"
            ) from None

    return map_out


def _default_out(default: Any) -> Convert:
    return lambda value: default if value is None else value


def _scale_in(factor: Any) -> Convert:
    def scale_in(value: Any) -> Any:
        number = to_decimal(value)
        return None if number is None else number * factor

    return scale_in


def _scale_out(factor: Any) -> Convert:
    def scale_out(value: Any) -> Any:
        number = to_decimal(value)
        return None if number is None else number / factor

    return scale_out


def _lookup_in(system: str, entity: str, noun: str) -> Callable[[Any, Lookup], Any]:
    def find(value: Any, lookup: Lookup) -> Any:
        if value is None or value == "":
            return None
        external_id = value if isinstance(value, str) else str(value)
        found = lookup.crm_id(system, entity, external_id)
        if found is None:
            raise Unlinked(f"{noun} {external_id} ({entity}) is not linked to a CRM record yet")
        return found

    return find


def _lookup_out(system: str, entity: str, noun: str) -> Callable[[Any, Lookup], Any]:
    def find(value: Any, lookup: Lookup) -> Any:
        if value is None:
            return None
        record_id = value if isinstance(value, UUID) else UUID(str(value))
        found = lookup.external_id(system, entity, record_id)
        if found is None:
            raise Unlinked(f"{noun} {record_id} is not linked to a {entity} record in {system} yet")
        return found

    return find


def _external_reader(name: str) -> ReadFn:
    return methodcaller("get", name)


def _modified_reader(name: str, zone: tzinfo) -> Callable[[Mapping[str, Any]], datetime | None]:
    cast = caster(ColumnInfo(name, "datetime", nullable=True), zone)

    def modified(record: Mapping[str, Any]) -> datetime | None:
        try:
            value: datetime | None = cast(record.get(name))
        except ValueError as error:
            raise MappingFailure(name, str(error)) from error
        return value

    return modified


# --- the rest of the file ----------------------------------------------------------------------


def _table(
    name: str, tables: Mapping[str, Table], problems: list[Problem], loc: Loc = ("crm_entity",)
) -> Table | None:
    table = tables.get(name)
    if table is None:
        problems.append(
            Problem(loc, f"unknown CRM entity {name!r}{_suggest(name, tables, listing=True)}")
        )
    return table


def _zone(name: str, loc: Loc, problems: list[Problem]) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(loc, f"unknown time zone {name!r} (an IANA name like Asia/Shanghai)")
        )
        return None


def _match_keys(
    groups: Sequence[Sequence[str]], scope: _Scope, inbound: Collection[str | None]
) -> tuple[tuple[str, ...], ...]:
    for index, group in enumerate(groups):
        if not group:
            scope.error(("match", index), "a match key names at least one CRM field")
        for position, name in enumerate(group):
            loc = ("match", index, position)
            if scope.column(name, loc) is not False and name not in inbound:
                scope.error(loc, f"{name} is not written inbound by any field, so cannot match")
    return tuple(tuple(group) for group in groups)


def _create_key(
    text: str | None, scope: _Scope
) -> tuple[Callable[[Mapping[str, Any]], str] | None, tuple[str, ...]]:
    if text is None:
        return None, ()
    loc = ("create_key",)
    try:
        template = Template(text)
    except TemplateError as error:
        scope.error(loc, str(error))
        return None, ()
    for name in template.names:
        info = True if name == "id" else scope.column(name, loc)
        spec = template.formats.get(name)
        if spec and name != "id" and not (isinstance(info, ColumnInfo) and info.kind == "uuid"):
            scope.error(loc, f"{{{name}:{spec}}}: the hex format is for record ids")
    reads = tuple(name for name in template.names if name != "id")
    return template.bind(crm_reader, strict=True), reads


def _import(reference: str | None, loc: Loc, scope: _Scope) -> Convert | None:
    if reference is None:
        return None
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        scope.error(loc, f"{reference!r} is not module:function (e.g. mypkg.transforms:clean)")
        return None
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except Exception as error:  # noqa: BLE001 - any failure of user code is reported the same way
        scope.error(loc, f"cannot import {reference}: {error}")
        return None
    if not callable(function):
        scope.error(loc, f"{reference} is not a function")
        return None

    def call(value: Any) -> Any:
        if value is None:
            return None
        try:
            return function(value)
        except Exception as error:
            raise ValueError(f"{reference} failed on {value!r}: {error}") from error

    return call


def _noun(table: Table | None, column: str) -> str:
    """What a lookup column points at, in words (``account_id`` -> ``account``)."""
    if table is not None:
        for foreign_key in table.c[column].foreign_keys:
            name = foreign_key.column.table.name
            return name[:-3] + "y" if name.endswith("ies") else name.removesuffix("s")
    return column.removesuffix("_id")


def _suggest(name: str, known: Iterable[str], *, listing: bool = False) -> str:
    names = list(known)
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(sorted(names))})" if listing else ""
