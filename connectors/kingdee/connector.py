"""The Kingdee K3 Cloud connector: customers, materials and sale orders through the WebAPI.

Records are flat dicts keyed by K3's own field keys, the same for reads and writes. A base-data
reference is ``"<Field>.FNumber"`` (``"FCustId.FNumber": "CUST0001"``), the internal id is
there on reads (``FCUSTID``, ``FMATERIALID``, ``FID``), ``FModifyDate`` is K3's text
(server local time, milliseconds), numbers are :class:`~decimal.Decimal`. A sale order carries
its lines as a list under ``"FSaleOrderEntry"``, each line flat the same way.

Reads page by keyset on (``FModifyDate``, internal id), always from ``StartRow`` 0, so records
sharing one modification time across a page boundary, or modified during the read, are never
lost. Writes look the keys up first (one query), then update what exists and create the rest
with BatchSave; a create that fails because its number now exists (the answer to an earlier
attempt was lost) is sent again as an update, so a retried create never makes a second record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from connectors._http import RetryPolicy
from connectors.kingdee.client import KingdeeClient
from connectors.kingdee.config import KingdeeConfig, load_config
from connectors.kingdee.errors import error_messages, item_error
from crm_core.sync.ports import (
    Capability,
    ConfigurationError,
    ConnectorError,
    Cursor,
    EntityDescription,
    Page,
    PermanentError,
    TransientError,
    WriteResult,
)

__all__ = ["KingdeeConnector", "create_connector"]

log = logging.getLogger("tongbu.connectors.kingdee")

_ALL = frozenset(Capability)
_NUMBER = ".FNumber"
_IN_CHUNK = 500


@dataclass(frozen=True)
class _Lines:
    """The entry (lines) of a bill."""

    key: str
    """The entry's key in a record and a Save model (``FSaleOrderEntry``)."""
    id_field: str
    """The line id in a record (``FEntryID``)."""
    id_query: str
    """The line id in a query (``FSaleOrderEntry_FEntryID``)."""
    seq_query: str
    """The line's position on the bill in a query (``FSaleOrderEntry_FSeq``)."""
    fields: tuple[str, ...]
    read_only: frozenset[str]


@dataclass(frozen=True)
class _Entity:
    name: str
    pk: str
    key: str
    fields: tuple[str, ...]
    """What a read returns (FieldKeys), in order."""
    read_only: frozenset[str]
    """Fields the server sets; never sent on a write."""
    capabilities: frozenset[Capability]
    defaults: tuple[str, ...] = ()
    """Organisation references filled with the configured organisation on a create."""
    subentities: Mapping[str, str] = field(default_factory=dict)
    """Fields a Save model holds in a sub-entity (``FSettleCurrId`` -> ``FSaleOrderFinance``)."""
    lines: _Lines | None = None
    forbid: bool = False
    """Whether the entity has ``FForbidStatus`` (base data), set by the Forbid/Enable
    operations rather than by Save."""

    def describe(self) -> EntityDescription:
        return EntityDescription(
            name=self.name,
            key=self.key,
            cursor_field="FModifyDate",
            capabilities=self.capabilities,
            version_field="FModifyDate",
        )


_STATUS = ("FDocumentStatus", "FForbidStatus", "FCreateDate", "FModifyDate")

ENTITIES: dict[str, _Entity] = {
    entity.name: entity
    for entity in (
        _Entity(
            name="BD_Customer",
            pk="FCUSTID",
            key="FNumber",
            fields=(
                "FCUSTID",
                "FNumber",
                "FName",
                "FShortName",
                "FTEL",
                "FFAX",
                "FADDRESS",
                "FWEBSITE",
                "FTAXREGISTERCODE",
                "FPROVINCIAL",
                "FCOUNTRY",
                "FDescription",
                "FCreateOrgId.FNumber",
                "FUseOrgId.FNumber",
                "FTRADINGCURRID.FNumber",
                *_STATUS,
            ),
            read_only=frozenset({"FCUSTID", *_STATUS}),
            capabilities=_ALL,
            defaults=("FCreateOrgId", "FUseOrgId"),
            forbid=True,
        ),
        _Entity(
            name="BD_MATERIAL",
            pk="FMATERIALID",
            key="FNumber",
            fields=(
                "FMATERIALID",
                "FNumber",
                "FName",
                "FSpecification",
                "FBaseUnitId.FNumber",
                "FDescription",
                "FCreateOrgId.FNumber",
                "FUseOrgId.FNumber",
                *_STATUS,
            ),
            read_only=frozenset({"FMATERIALID", *_STATUS}),
            capabilities=_ALL - {Capability.DELETE},
            defaults=("FCreateOrgId", "FUseOrgId"),
            subentities={"FBaseUnitId": "SubHeadEntity"},
            forbid=True,
        ),
        _Entity(
            name="SAL_SaleOrder",
            pk="FID",
            key="FBillNo",
            fields=(
                "FID",
                "FBillNo",
                "FDate",
                "FCustId.FNumber",
                "FSaleOrgId.FNumber",
                "FNote",
                "FSettleCurrId.FNumber",
                "FBillAllAmount",
                "FBillTaxAmount",
                "FDocumentStatus",
                "FCreateDate",
                "FModifyDate",
            ),
            read_only=frozenset(
                {"FID", "FDocumentStatus", "FCreateDate", "FModifyDate"}
                | {"FBillAllAmount", "FBillTaxAmount"}
            ),
            capabilities=_ALL,
            defaults=("FSaleOrgId",),
            subentities={
                "FSettleCurrId": "FSaleOrderFinance",
                "FBillAllAmount": "FSaleOrderFinance",
                "FBillTaxAmount": "FSaleOrderFinance",
            },
            lines=_Lines(
                key="FSaleOrderEntry",
                id_field="FEntryID",
                id_query="FSaleOrderEntry_FEntryID",
                seq_query="FSaleOrderEntry_FSeq",
                fields=(
                    "FEntryID",
                    "FMaterialId.FNumber",
                    "FQty",
                    "FPrice",
                    "FTaxPrice",
                    "FEntryTaxRate",
                    "FAmount",
                    "FAllAmount",
                    "FEntryNote",
                ),
                read_only=frozenset({"FAmount", "FAllAmount"}),
            ),
        ),
    )
}


@dataclass(frozen=True)
class _Found:
    """What a lookup tells of an existing record."""

    pk: int
    modified: str
    status: str
    """``FDocumentStatus``: A created, B being audited, C audited, D re-audit, Z temporary."""
    forbid: str | None
    """``FForbidStatus`` (A in use, B forbidden) of base data."""


@dataclass
class _Write:
    """One record of an upsert on its way to K3."""

    index: int
    record: Mapping[str, Any]
    model: dict[str, Any]
    fields: tuple[str, ...]
    """The field keys the model sets (NeedUpDateFields of an update)."""
    number: str
    existed: bool


class KingdeeConnector:
    """One K3 Cloud account set, as a :class:`~crm_core.sync.ports.Connector`."""

    system = "kingdee"

    def __init__(
        self,
        config: KingdeeConfig,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.client = KingdeeClient(config, retry=retry, sleep=sleep, transport=transport)

    def __repr__(self) -> str:
        return (
            f"KingdeeConnector(base_url={self.config.base_url!r},"
            f" acct_id={self.config.acct_id!r}, username={self.config.username!r})"
        )

    def entities(self) -> Mapping[str, EntityDescription]:
        """``BD_Customer``, ``BD_MATERIAL`` and ``SAL_SaleOrder``."""
        return {name: entity.describe() for name, entity in ENTITIES.items()}

    def close(self) -> None:
        """Close the connection."""
        self.client.close()

    def __enter__(self) -> KingdeeConnector:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def logins(self) -> int:
        """How many times this connector has logged in."""
        return self.client.auth.logins

    # reads --------------------------------------------------------------------------------

    def read_changes(self, entity: str, cursor: Cursor, batch_size: int) -> Iterator[Page]:
        """Records modified after ``cursor`` (``{"modified": .., "id": ..}``; None reads all),
        oldest first. Each page is a fresh query from ``StartRow`` 0 after the last record
        read, so nothing is skipped when records change during the read."""
        spec = self._entity(entity, Capability.READ)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        limit = min(batch_size, self.config.page_size)
        modified, last_id = _parse_cursor(cursor)
        if modified is not None and self.config.lookback_seconds:
            modified, last_id = _earlier(modified, self.config.lookback_seconds), None
        pk_index = spec.fields.index(spec.pk)
        modified_index = spec.fields.index("FModifyDate")
        while True:
            rows = self.client.execute_bill_query(
                {
                    "FormId": spec.name,
                    "FieldKeys": ",".join(spec.fields),
                    "FilterString": _after(spec.pk, modified, last_id),
                    "OrderString": f"FModifyDate ASC, {spec.pk} ASC",
                    "TopRowCount": 0,
                    "StartRow": 0,
                    "Limit": limit,
                }
            )
            if not rows:
                return
            records = [dict(zip(spec.fields, row, strict=True)) for row in rows]
            if spec.lines is not None:
                self._attach_lines(spec, spec.lines, records)
            modified = str(rows[-1][modified_index])
            last_id = int(rows[-1][pk_index])
            next_cursor = {"modified": modified, "id": last_id}
            log.debug("kingdee %s: read %d records up to %s", entity, len(records), next_cursor)
            yield Page(records, next_cursor)
            if len(rows) < limit:
                return

    def _attach_lines(self, spec: _Entity, lines: _Lines, records: list[dict[str, Any]]) -> None:
        """Fetch the lines of a page of bills in one query (paged by keyset on the line id) and
        attach them, in their order on the bill (``FSeq``)."""
        by_id: dict[int, list[tuple[int, dict[str, Any]]]] = {int(r[spec.pk]): [] for r in records}
        keys = [spec.pk, lines.id_query, lines.seq_query, *lines.fields[1:]]
        ids = ",".join(str(bill_id) for bill_id in by_id)
        after: tuple[int, int] | None = None
        while True:
            where = f"{spec.pk} IN ({ids})"
            if after is not None:
                where += (
                    f" AND ({spec.pk} > {after[0]} OR"
                    f" ({spec.pk} = {after[0]} AND {lines.id_query} > {after[1]}))"
                )
            rows = self.client.execute_bill_query(
                {
                    "FormId": spec.name,
                    "FieldKeys": ",".join(keys),
                    "FilterString": where,
                    "OrderString": f"{spec.pk} ASC, {lines.id_query} ASC",
                    "StartRow": 0,
                    "Limit": self.config.page_size,
                }
            )
            for row in rows:
                if row[1] in (None, 0):
                    continue  # a bill without lines
                line = dict(zip(lines.fields, [row[1], *row[3:]], strict=True))
                by_id[int(row[0])].append((int(row[2] or 0), line))
            if len(rows) < self.config.page_size:
                break
            after = (int(rows[-1][0]), int(rows[-1][1] or 0))
        for record in records:
            numbered = sorted(by_id[int(record[spec.pk])], key=lambda item: item[0])
            record[lines.key] = [line for _, line in numbered]

    # writes -------------------------------------------------------------------------------

    def upsert(self, entity: str, records: Sequence[Mapping[str, Any]]) -> list[WriteResult]:
        """Create or update ``records`` by their key (``FNumber`` / ``FBillNo``); one result
        per record in input order, its external version the ``FModifyDate`` after the write."""
        spec = self._entity(entity, Capability.CREATE)
        results: dict[int, WriteResult] = {}
        keys = [str(record.get(spec.key) or "").strip() for record in records]
        found = self._lookup(spec, [key for key in keys if key])
        writes: list[_Write] = []
        for index, record in enumerate(records):
            existing = found.get(keys[index])
            try:
                model = self._model(spec, record, existing.pk if existing else 0)
            except PermanentError as error:
                results[index] = WriteResult(index, external_id=keys[index] or None, error=error)
                continue
            fields = _update_fields(spec, model)
            writes.append(_Write(index, record, model, fields, keys[index], keys[index] in found))
        saved: dict[int, tuple[str, bool]] = {}  # index -> (number, created)
        failed = self._save(spec, writes, saved, results)
        if failed:  # creates whose number exists now: an earlier answer was lost, or a twin
            self._retry_as_updates(spec, failed, saved, results)
        if spec.forbid:
            self._set_forbid_status(spec, records, saved, results)
        versions = self._lookup(spec, [number for number, _ in saved.values()])
        for index, (number, created) in saved.items():
            version = versions[number].modified if number in versions else None
            results[index] = WriteResult(
                index, external_id=number, external_version=version, created=created
            )
        return [results[index] for index in range(len(records))]

    def _set_forbid_status(
        self,
        spec: _Entity,
        records: Sequence[Mapping[str, Any]],
        saved: dict[int, tuple[str, bool]],
        results: dict[int, WriteResult],
    ) -> None:
        """Forbid (``FForbidStatus`` B) or enable (A) the saved records that ask for it and are
        not so already: K3 changes the status by these operations, not by Save."""
        desired = {
            index: str(records[index].get("FForbidStatus") or "").strip().upper() for index in saved
        }
        asking = {index: state for index, state in desired.items() if state in ("A", "B")}
        if not asking:
            return
        current = self._lookup(spec, [saved[index][0] for index in asking])
        wanted: dict[str, list[tuple[int, str]]] = {"Forbid": [], "Enable": []}
        for index, state in asking.items():
            number = saved[index][0]
            if number in current and current[number].forbid != state:
                wanted["Forbid" if state == "B" else "Enable"].append((index, number))
        for operation, targets in wanted.items():
            refused = self._per_record(spec, "ExcuteOperation", targets, operation)
            for index, messages in refused.items():
                number = saved.pop(index)[0]
                error = item_error(messages, records[index])
                results[index] = WriteResult(index, external_id=number, error=error)

    def _save(
        self,
        spec: _Entity,
        writes: list[_Write],
        saved: dict[int, tuple[str, bool]],
        results: dict[int, WriteResult],
    ) -> list[tuple[_Write, PermanentError]]:
        """BatchSave creates together and updates grouped by their fields; the creates that
        failed, with their errors."""
        groups: dict[tuple[bool, tuple[str, ...]], list[_Write]] = {}
        for write in writes:
            group = (write.existed, tuple(sorted(write.fields)) if write.existed else ())
            groups.setdefault(group, []).append(write)
        failed: list[tuple[_Write, PermanentError]] = []
        size = self.config.write_batch_size
        for (existed, fields), members in groups.items():
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                for write, outcome in zip(
                    chunk, self._batch_save(spec, chunk, fields), strict=True
                ):
                    if isinstance(outcome, str):
                        saved[write.index] = (outcome, not existed)
                    elif not existed and write.number and isinstance(outcome, PermanentError):
                        failed.append((write, outcome))
                    else:
                        results[write.index] = WriteResult(
                            write.index, external_id=write.number or None, error=outcome
                        )
        return failed

    def _retry_as_updates(
        self,
        spec: _Entity,
        failed: list[tuple[_Write, PermanentError]],
        saved: dict[int, tuple[str, bool]],
        results: dict[int, WriteResult],
    ) -> None:
        found = self._lookup(spec, [write.number for write, _ in failed])
        again: list[_Write] = []
        for write, error in failed:
            if write.number not in found:
                results[write.index] = WriteResult(
                    write.index, external_id=write.number, error=error
                )
                continue
            model = self._model(spec, write.record, found[write.number].pk)
            fields = _update_fields(spec, model)
            again.append(_Write(write.index, write.record, model, fields, write.number, True))
        if again:
            log.info("kingdee %s: %d creates exist already; updating them", spec.name, len(again))
        updated: dict[int, tuple[str, bool]] = {}
        self._save(spec, again, updated, results)
        for index, (number, _) in updated.items():
            saved[index] = (number, True)  # it did not exist when this upsert began

    def _batch_save(
        self, spec: _Entity, chunk: list[_Write], fields: tuple[str, ...]
    ) -> list[str | ConnectorError]:
        """One BatchSave: for each record its number, or its error."""
        data = {
            "NeedUpDateFields": list(fields),
            "NeedReturnFields": [],
            "IsDeleteEntry": "true",
            "IsVerifyBaseDataField": "false",
            "IsAutoSubmitAndAudit": "false",
            "Model": [write.model for write in chunk],
        }
        result = self.client.result("BatchSave", spec.name, data)
        status = result.get("ResponseStatus")
        if not isinstance(status, Mapping):
            raise TransientError("kingdee: BatchSave answered without a ResponseStatus")
        numbers = {
            int(item.get("DIndex", 0)): str(item.get("Number") or "")
            for item in status.get("SuccessEntitys") or []
            if isinstance(item, Mapping)
        }
        messages: dict[int, list[str]] = {}
        for error in status.get("Errors") or []:
            if isinstance(error, Mapping):
                messages.setdefault(int(error.get("DIndex") or 0), []).append(
                    str(error.get("Message") or "").strip()
                )
        general = error_messages(status)
        outcomes: list[str | ConnectorError] = []
        for position, write in enumerate(chunk):
            if position in numbers:
                outcomes.append(numbers[position] or write.number)
            elif position in messages:
                outcomes.append(item_error(messages[position], write.record))
            elif general:
                outcomes.append(item_error(general, write.record))
            else:
                outcomes.append(TransientError("kingdee: BatchSave gave no result for this record"))
        return outcomes

    def _model(self, spec: _Entity, record: Mapping[str, Any], pk: int) -> dict[str, Any]:
        """A Save model of a flat record: references as ``{"FNumber": ..}``, sub-entities and
        lines nested as K3 wants them, server-set fields left out."""
        model: dict[str, Any] = {spec.pk: pk}
        forbid = record.get("FForbidStatus")
        if (
            spec.forbid
            and forbid not in (None, "")
            and str(forbid).strip().upper() not in ("A", "B")
        ):
            raise PermanentError(f"FForbidStatus must be A (in use) or B (forbidden): {forbid}")
        for key, value in record.items():
            if spec.lines is not None and key == spec.lines.key:
                if value is not None and not isinstance(value, list | tuple):
                    raise PermanentError(f"{key} must be a list of lines", record)
                lines = spec.lines
                model[key] = [_line_model(lines, line, record) for line in value or ()]
                continue
            base, sent = _field_value(key, value)
            if base in spec.read_only or key in spec.read_only:
                continue
            sub = spec.subentities.get(base)
            if sub is not None:
                model.setdefault(sub, {})[base] = sent
            else:
                model[base] = sent
        if not pk:
            for org in spec.defaults:
                model.setdefault(org, {"FNumber": self.config.org_number})
        return model

    def delete(self, entity: str, external_ids: Sequence[str]) -> list[WriteResult]:
        """Delete records by number; one already gone counts as deleted. K3 deletes only what is
        not audited: audited records are un-audited first (``unaudit_before_delete``), and audited
        again if the delete is refused after all."""
        spec = self._entity(entity, Capability.DELETE)
        numbers = [str(number) for number in external_ids]
        present = self._lookup(spec, numbers)
        targets = [(index, number) for index, number in enumerate(numbers) if number in present]
        audited: list[tuple[int, str]] = []
        if self.config.unaudit_before_delete:
            audited = [(i, number) for i, number in targets if present[number].status == "C"]
        refused = self._per_record(spec, "UnAudit", audited)
        refused_deletes = self._per_record(
            spec, "Delete", [(i, number) for i, number in targets if i not in refused]
        )
        refused.update(refused_deletes)
        restore = [(i, number) for i, number in audited if i in refused_deletes]
        if restore:
            self._per_record(spec, "Submit", restore)
            self._per_record(spec, "Audit", restore)
        still = self._lookup(spec, [numbers[index] for index in refused]) if refused else {}
        results: list[WriteResult] = []
        for index, number in enumerate(numbers):
            if index in refused and number in still:
                error = item_error(refused[index], {spec.key: number})
                results.append(WriteResult(index, external_id=number, error=error))
            else:
                results.append(WriteResult(index, external_id=number))
        return results

    # helpers ------------------------------------------------------------------------------

    def _entity(self, entity: str, capability: Capability) -> _Entity:
        spec = ENTITIES.get(entity)
        if spec is None:
            known = ", ".join(ENTITIES)
            raise ConfigurationError(f"kingdee has no entity {entity!r} (known: {known})")
        if capability not in spec.capabilities:
            raise ConfigurationError(f"kingdee cannot {capability.value} {entity}")
        return spec

    def _lookup(self, spec: _Entity, numbers: Iterable[str]) -> dict[str, _Found]:
        """What exists of these numbers (id, ``FModifyDate``, statuses), in few queries."""
        wanted = sorted({number for number in numbers if number})
        keys = f"{spec.pk},{spec.key},FModifyDate,FDocumentStatus"
        keys += ",FForbidStatus" if spec.forbid else ""
        found: dict[str, _Found] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            listed = ",".join(_literal(number) for number in chunk)
            rows = self.client.execute_bill_query(
                {
                    "FormId": spec.name,
                    "FieldKeys": keys,
                    "FilterString": f"{spec.key} IN ({listed})",
                    "StartRow": 0,
                    "Limit": 0,
                }
            )
            for row in rows:
                forbid = str(row[4]) if spec.forbid else None
                found[str(row[1])] = _Found(int(row[0]), str(row[2]), str(row[3]), forbid)
        return found

    def _per_record(
        self,
        spec: _Entity,
        service: str,
        targets: Sequence[tuple[int, str]],
        operation: str | None = None,
    ) -> dict[int, list[str]]:
        """Delete, UnAudit or an operation (Forbid...) of records by number, in chunks; K3's
        messages for the records it refused, by their index."""
        refused: dict[int, list[str]] = {}
        size = self.config.write_batch_size
        for start in range(0, len(targets), size):
            chunk = targets[start : start + size]
            data = {"Numbers": [number for _, number in chunk]}
            result = self.client.result(service, spec.name, data, operation=operation)
            status = result.get("ResponseStatus")
            errors = status.get("Errors") if isinstance(status, Mapping) else None
            for error in errors or []:
                position = int(error.get("DIndex") or 0) if isinstance(error, Mapping) else -1
                if 0 <= position < len(chunk):
                    message = str(error.get("Message") or "").strip()
                    refused.setdefault(chunk[position][0], []).append(message)
        return refused


def _literal(value: Any) -> str:
    """A FilterString text literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _after(pk: str, modified: str | None, last_id: int | None) -> str:
    """The keyset filter: after the cursor's (modification time, id), the moment inclusive."""
    if modified is None:
        return ""
    if last_id is None:
        return f"FModifyDate >= {_literal(modified)}"
    moment = _literal(modified)
    return f"FModifyDate > {moment} OR (FModifyDate = {moment} AND {pk} > {int(last_id)})"


def _parse_cursor(cursor: Cursor) -> tuple[str | None, int | None]:
    if cursor is None:
        return None, None
    if not isinstance(cursor, Mapping) or not isinstance(cursor.get("modified"), str):
        raise ConfigurationError(f"not a kingdee cursor: {cursor!r}")
    last_id = cursor.get("id")
    if last_id is not None and not isinstance(last_id, int):
        raise ConfigurationError(f"not a kingdee cursor: {cursor!r}")
    return cursor["modified"], last_id


def _earlier(modified: str, seconds: float) -> str:
    """A K3 time ``seconds`` before ``modified``, in K3's own format."""
    moment = datetime.fromisoformat(modified) - timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds")


def _field_value(key: str, value: Any) -> tuple[str, Any]:
    """A record key and value as a Save model key and value (``X.FNumber`` -> ``X: {FNumber}``)."""
    if key.endswith(_NUMBER):
        return key[: -len(_NUMBER)], {"FNumber": "" if value is None else str(value)}
    return key, value


def _update_fields(spec: _Entity, model: Mapping[str, Any]) -> tuple[str, ...]:
    """The field keys a model sets, as K3 wants them in NeedUpDateFields: header fields, the
    fields inside sub-entities, and for lines the entry's key and its fields."""
    fields: list[str] = []
    subs = set(spec.subentities.values())
    for key, value in model.items():
        if key == spec.pk:
            continue
        if key in subs and isinstance(value, Mapping):
            fields.extend(value)
        elif spec.lines is not None and key == spec.lines.key:
            fields.append(key)
            line_keys = {k for line in value for k in line if k != spec.lines.id_field}
            fields.extend(sorted(line_keys))
        else:
            fields.append(key)
    return tuple(fields)


def _line_model(lines: _Lines, line: Any, record: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(line, Mapping):
        raise PermanentError(f"each line of {lines.key} must be an object", record)
    model: dict[str, Any] = {lines.id_field: line.get(lines.id_field) or 0}
    for key, value in line.items():
        base, sent = _field_value(key, value)
        if key not in lines.read_only and base != lines.id_field:
            model[base] = sent
    return model


def create_connector(settings: Mapping[str, Any]) -> KingdeeConnector:
    """A connector from settings (``base_url``, ``acct_id``, ``username``, ``password``...); bad
    settings are a :class:`~crm_core.sync.ports.ConfigurationError`."""
    return KingdeeConnector(load_config(settings))
