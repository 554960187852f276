"""The two ways a mapping fails: the file itself (:class:`MappingError`, at load time) and one
record that does not fit it (:class:`MappingFailure`, at run time)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_core.errors import InvalidInput

__all__ = ["MappingError", "MappingFailure"]


class MappingError(InvalidInput):
    """A mapping file cannot be used. ``problems`` lists every problem found, one per line, each
    naming the file, the line and the field: ``mappings/kingdee/customer.yaml, line 14,
    fields[2].transforms[0]: unknown transform 'phon' (known: ...)``."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


class MappingFailure(InvalidInput):
    """One record could not be mapped; the engine quarantines it with this reason.

    ``field`` is the field being written (a CRM field inbound, an external field outbound; a line
    field as ``order_lines[0].product_id`` / ``FSaleOrderEntry[0].FMaterialId.FNumber``, 0 being
    the line's index in the list). ``kind`` is ``"invalid"`` (the value does not fit) or
    ``"lookup"`` (a related record is not linked yet: the record may go through once it is).
    """

    def __init__(self, field: str, reason: str, kind: str = "invalid") -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.kind = kind

    def within(self, prefix: str) -> MappingFailure:
        """The same failure with ``prefix`` before the field name (a line of a record)."""
        return MappingFailure(f"{prefix}.{self.field}", self.reason, self.kind)
