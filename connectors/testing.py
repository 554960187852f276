"""The contract suite every connector passes against its emulator (STYLE.md rule 2).

Like Meltano's tap tests and SQLAlchemy's dialect suite: a connector's tests subclass
:class:`ConnectorContract`, name the entity to exercise, provide an ``emulator`` fixture and a
few hooks, and inherit every test. Tests skip what the entity's declared capabilities (or the
emulator's faults) do not cover. Each test is something a user of the connector relies on;
every production bug of a connector becomes a new test here.

A subclass provides:

* ``entity`` — the entity the suite exercises (it needs at least read and incremental);
* an ``emulator`` fixture — the system's emulator started on 127.0.0.1 with no records of
  ``entity``;
* :meth:`~ConnectorContract.connect` — a connector for the emulator (``overrides`` change
  settings: ``password``, ``timeout``);
* :meth:`~ConnectorContract.seed`, :meth:`~ConnectorContract.edit`,
  :meth:`~ConnectorContract.count`, :meth:`~ConnectorContract.logins` — what a user of the
  system does and sees in it;
* :meth:`~ConnectorContract.new_record` and :meth:`~ConnectorContract.bad_record` — records to
  write;
* :meth:`~ConnectorContract.inject` — switch a :class:`Fault` on.

This module lives outside ``tests/`` so it is never collected by itself; it uses plain
``assert`` with messages (pytest does not rewrite it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, ClassVar

import pytest

from crm_core.sync.ports import (
    AuthError,
    Capability,
    Connector,
    ConnectorError,
    Cursor,
    EntityDescription,
    PermanentError,
)

__all__ = ["WRONG_PASSWORD", "ConnectorContract", "Fault", "read_all"]

WRONG_PASSWORD = "not-the-password-1"  # noqa: S105 - the password the suite logs in with wrongly


class Fault(StrEnum):
    """Faults an emulator can be told to produce (see :meth:`ConnectorContract.inject`)."""

    THROTTLE = "throttle"
    """The next ``times`` calls answer 429 with ``Retry-After: retry_after``."""
    UNAVAILABLE = "unavailable"
    """The next ``times`` calls answer 503 with ``Retry-After: retry_after``."""
    SLOW_WRITE = "slow_write"
    """The next write is carried out, then answered only after ``seconds``."""
    EXPIRE_SESSIONS = "expire_sessions"
    """Every session or token expires now."""
    MALFORMED = "malformed"
    """The next ``times`` answers are not valid JSON."""
    REJECT = "reject"
    """Writing the records ``keys`` fails with the system's validation error ``message``."""


def read_all(
    connector: Connector, entity: str, cursor: Cursor, batch_size: int
) -> tuple[list[dict[str, Any]], list[Cursor]]:
    """Every record a read yields, in order, and the cursor after each page."""
    records: list[dict[str, Any]] = []
    cursors: list[Cursor] = []
    for page in connector.read_changes(entity, cursor, batch_size):
        assert len(page.records) <= batch_size, (
            f"a page of {len(page.records)} records is larger than the batch size {batch_size}"
        )
        records.extend(page.records)
        cursors.append(page.next_cursor)
    return records, cursors


class ConnectorContract:
    """The tests every connector passes. Subclass it (as ``TestXxxContract``) and fill in the
    hooks; see the module's documentation."""

    entity: ClassVar[str]
    """The entity the suite exercises."""
    supported_faults: ClassVar[frozenset[Fault]] = frozenset(Fault)
    """The faults the emulator can produce; tests of the others are skipped."""
    retry_floor: ClassVar[float] = 0.2
    """The least a connector waits before retrying, also when told ``Retry-After: 0``."""
    slow_timeout: ClassVar[float] = 0.5
    """The client timeout the lost-answer test connects with."""

    # hooks --------------------------------------------------------------------------------

    @pytest.fixture
    def emulator(self) -> Iterator[Any]:
        """The system's emulator, started, with no records of ``entity``."""
        raise NotImplementedError("a connector's contract tests provide an emulator fixture")

    def connect(self, emulator: Any, **overrides: Any) -> Connector:
        """A connector for the emulator; ``overrides`` change settings (``password``,
        ``timeout``)."""
        raise NotImplementedError

    def secrets(self, emulator: Any) -> list[str]:
        """The secrets a connector for the emulator knows (that must never be shown)."""
        raise NotImplementedError

    def seed(self, emulator: Any, count: int, *, same_modified: bool = False) -> list[str]:
        """Add ``count`` records of ``entity`` to the system (all with one modification time
        when ``same_modified``); their keys."""
        raise NotImplementedError

    def edit(self, emulator: Any, key: str, value: str) -> None:
        """Change the field :attr:`edited_field` of a record to ``value``, as a user of the
        system would."""
        raise NotImplementedError

    edited_field: ClassVar[str]
    """The field :meth:`edit` changes, as a record read by the connector names it."""

    def count(self, emulator: Any) -> int:
        """How many records of ``entity`` the system holds."""
        raise NotImplementedError

    def logins(self, emulator: Any) -> int:
        """How many logins (token or session requests) the system has received."""
        raise NotImplementedError

    def new_record(self, n: int) -> dict[str, Any]:
        """A record the system accepts, with its own key (``n`` makes it unique)."""
        raise NotImplementedError

    def bad_record(self, n: int) -> tuple[dict[str, Any], str]:
        """A record the system refuses, and a piece of the system's message refusing it."""
        raise NotImplementedError

    def inject(self, emulator: Any, fault: Fault, **params: Any) -> None:
        """Switch ``fault`` on (parameters: ``times``, ``retry_after``, ``seconds``, ``keys``,
        ``message``; see :class:`Fault`)."""
        raise NotImplementedError

    def shown(self, connector: Connector) -> list[object]:
        """Objects whose ``repr`` a user may see (the connector, its configuration...)."""
        return [connector]

    # helpers ------------------------------------------------------------------------------

    @contextmanager
    def connected(self, emulator: Any, **overrides: Any) -> Iterator[Connector]:
        """A connector, closed afterwards."""
        connector = self.connect(emulator, **overrides)
        try:
            yield connector
        finally:
            connector.close()

    def description(self, connector: Connector) -> EntityDescription:
        """The entity's description, as the connector declares it."""
        return connector.entities()[self.entity]

    def require(self, connector: Connector, *capabilities: Capability) -> None:
        """Skip the test unless the entity can do all of ``capabilities``."""
        missing = set(capabilities) - self.description(connector).capabilities
        if missing:
            pytest.skip(f"{self.entity} cannot {', '.join(sorted(missing))}")

    def require_fault(self, fault: Fault) -> None:
        """Skip the test unless the emulator can produce ``fault``."""
        if fault not in self.supported_faults:
            pytest.skip(f"the emulator cannot produce {fault}")

    def keys(self, connector: Connector, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """The keys of records, as the connector reads them."""
        key = self.description(connector).key
        return [str(record[key]) for record in records]

    # the contract --------------------------------------------------------------------------

    def test_the_connector_describes_the_entity(self, emulator: Any) -> None:
        with self.connected(emulator) as connector:
            assert isinstance(connector, Connector), "the connector does not meet the protocol"
            description = self.description(connector)
            assert description.name == self.entity
            assert Capability.READ in description.capabilities
            assert description.key, "the entity names no key field"

    def test_a_wrong_password_is_an_auth_error_without_a_retry_storm(self, emulator: Any) -> None:
        before = self.logins(emulator)
        with (
            self.connected(emulator, password=WRONG_PASSWORD) as connector,
            pytest.raises(AuthError),
        ):
            read_all(connector, self.entity, None, 10)
        attempts = self.logins(emulator) - before
        assert 1 <= attempts <= 2, f"{attempts} login attempts for one refused password"

    def test_sessions_expired_during_a_read_are_renewed(self, emulator: Any) -> None:
        self.require_fault(Fault.EXPIRE_SESSIONS)
        keys = self.seed(emulator, 250)
        before = self.logins(emulator)
        with self.connected(emulator) as connector:
            pages = connector.read_changes(self.entity, None, 100)
            seen = self.keys(connector, next(pages).records)
            self.inject(emulator, Fault.EXPIRE_SESSIONS)
            for page in pages:
                seen.extend(self.keys(connector, page.records))
        assert sorted(seen) == sorted(keys), "the read did not survive the expired session"
        logins = self.logins(emulator) - before
        assert logins == 2, f"{logins} logins for one read and one expired session"

    def test_paging_reads_every_record_once_oldest_first(self, emulator: Any) -> None:
        keys = self.seed(emulator, 250)
        with self.connected(emulator) as connector:
            records, cursors = read_all(connector, self.entity, None, 100)
            cursor_field = self.description(connector).cursor_field
        seen = self.keys(connector, records)
        assert len(cursors) >= 3, f"250 records in batches of 100 came in {len(cursors)} pages"
        assert len(seen) == len(set(seen)), "a record was read twice in one read"
        assert sorted(seen) == sorted(keys), "records were lost or invented"
        if cursor_field:
            moments = [record[cursor_field] for record in records]
            assert moments == sorted(moments), "records did not come oldest first"

    def test_records_sharing_one_modification_time_across_pages_are_all_read(
        self, emulator: Any
    ) -> None:
        keys = self.seed(emulator, 1000, same_modified=True)
        with self.connected(emulator) as connector:
            self.require(connector, Capability.INCREMENTAL)
            records, cursors = read_all(connector, self.entity, None, 100)
        seen = self.keys(connector, records)
        assert len(cursors) >= 10
        assert len(seen) == 1000, f"{len(seen)} records read of 1000 sharing one moment"
        assert set(seen) == set(keys), "a record sharing the boundary moment was lost"

    def test_an_incremental_read_resumes_from_the_saved_cursor(self, emulator: Any) -> None:
        keys = self.seed(emulator, 30)
        with self.connected(emulator) as connector:
            self.require(connector, Capability.INCREMENTAL)
            _, cursors = read_all(connector, self.entity, None, 100)
            saved = json.loads(json.dumps(cursors[-1]))  # the engine stores it as JSON
            nothing, _ = read_all(connector, self.entity, saved, 100)
            assert nothing == [], "a read from the last cursor returned records already read"
            self.edit(emulator, keys[7], "改过的名字")
            changed, after = read_all(connector, self.entity, saved, 100)
        assert self.keys(connector, changed) == [keys[7]], "the edit, and only it, is read"
        assert changed[0][self.edited_field] == "改过的名字"
        assert after, "a read that found records gave no cursor"

    def test_records_modified_during_a_read_are_not_lost(self, emulator: Any) -> None:
        keys = self.seed(emulator, 300)
        with self.connected(emulator) as connector:
            self.require(connector, Capability.INCREMENTAL)
            pages = connector.read_changes(self.entity, None, 100)
            first = next(pages)
            records = list(first.records)
            read_keys = set(self.keys(connector, records))
            done = next(key for key in keys if key in read_keys)
            pending = next(key for key in reversed(keys) if key not in read_keys)
            self.edit(emulator, done, "读过后改的")
            self.edit(emulator, pending, "读之前改的")
            added = self.seed(emulator, 1)
            last = first.next_cursor
            for page in pages:
                records.extend(page.records)
                last = page.next_cursor
            later, _ = read_all(connector, self.entity, json.loads(json.dumps(last)), 100)
        latest = dict(zip(self.keys(connector, records), records, strict=True))
        assert set(latest) == set(keys) | set(added), "a record changed during the read was lost"
        assert latest[done][self.edited_field] == "读过后改的"
        assert latest[pending][self.edited_field] == "读之前改的"
        assert later == [], "the cursor after the read did not cover the changes made during it"

    def test_a_record_is_created_then_updated_by_its_key(self, emulator: Any) -> None:
        with self.connected(emulator) as connector:
            self.require(connector, Capability.CREATE, Capability.UPDATE)
            before = self.count(emulator)
            record = self.new_record(1)
            (created,) = connector.upsert(self.entity, [record])
            assert created.ok, f"the create failed: {created.error}"
            assert created.created
            assert created.external_id
            changed = {**record, self.edited_field: "更新后的名称"}
            (updated,) = connector.upsert(self.entity, [changed])
            records, _ = read_all(connector, self.entity, None, 100)
        assert updated.ok, f"the update failed: {updated.error}"
        assert not updated.created
        assert updated.external_id == created.external_id
        if self.description(connector).version_field:
            assert updated.external_version, "the write reported no version"
            assert updated.external_version != created.external_version
        assert self.count(emulator) == before + 1
        (read_back,) = [r for r in records if self.keys(connector, [r])[0] == created.external_id]
        assert read_back[self.edited_field] == "更新后的名称"

    def test_the_same_create_sent_twice_makes_one_record(self, emulator: Any) -> None:
        with self.connected(emulator) as connector:
            self.require(connector, Capability.CREATE, Capability.UPDATE)
            before = self.count(emulator)
            record = self.new_record(2)
            first = connector.upsert(self.entity, [record])
            second = connector.upsert(self.entity, [record])
        assert first[0].ok, first[0].error
        assert second[0].ok, second[0].error
        assert first[0].external_id == second[0].external_id
        assert self.count(emulator) == before + 1, "a repeated create made a second record"

    def test_a_create_whose_answer_was_lost_is_not_made_twice(self, emulator: Any) -> None:
        self.require_fault(Fault.SLOW_WRITE)
        with self.connected(emulator, timeout=self.slow_timeout) as connector:
            self.require(connector, Capability.CREATE, Capability.UPDATE)
            before = self.count(emulator)
            self.inject(emulator, Fault.SLOW_WRITE, seconds=self.slow_timeout * 2.5)
            (result,) = connector.upsert(self.entity, [self.new_record(3)])
        assert result.ok, f"the retried create failed: {result.error}"
        assert self.count(emulator) == before + 1, "the retried create made a second record"

    @pytest.mark.parametrize(
        ("fault", "retry_after"),
        [(Fault.THROTTLE, 0), (Fault.THROTTLE, 1), (Fault.UNAVAILABLE, 1)],
    )
    def test_throttling_is_waited_out_as_the_system_asks(
        self, emulator: Any, fault: Fault, retry_after: float
    ) -> None:
        self.require_fault(fault)
        keys = self.seed(emulator, 5)
        with self.connected(emulator) as connector:
            read_all(connector, self.entity, None, 100)  # logged in
            self.inject(emulator, fault, times=1, retry_after=retry_after)
            started = time.monotonic()
            records, _ = read_all(connector, self.entity, None, 100)
            waited = time.monotonic() - started
        assert sorted(self.keys(connector, records)) == sorted(keys)
        floor = max(self.retry_floor, retry_after)
        assert waited >= floor, f"retried after {waited:.2f} s; the system asked for {floor} s"

    def test_a_malformed_answer_is_retried(self, emulator: Any) -> None:
        self.require_fault(Fault.MALFORMED)
        keys = self.seed(emulator, 5)
        with self.connected(emulator) as connector:
            read_all(connector, self.entity, None, 100)
            self.inject(emulator, Fault.MALFORMED, times=1)
            records, _ = read_all(connector, self.entity, None, 100)
        assert sorted(self.keys(connector, records)) == sorted(keys)

    def test_one_bad_record_fails_alone_with_the_systems_message(self, emulator: Any) -> None:
        with self.connected(emulator) as connector:
            self.require(connector, Capability.CREATE)
            before = self.count(emulator)
            bad, message = self.bad_record(5)
            results = connector.upsert(self.entity, [self.new_record(4), bad, self.new_record(6)])
        assert [result.index for result in results] == [0, 1, 2]
        assert results[0].ok, results[0].error
        assert results[2].ok, results[2].error
        assert isinstance(results[1].error, PermanentError), results[1].error
        assert message in results[1].error.reason, results[1].error.reason
        assert self.count(emulator) == before + 2

    def test_a_record_the_system_rejects_carries_its_message(self, emulator: Any) -> None:
        self.require_fault(Fault.REJECT)
        with self.connected(emulator) as connector:
            self.require(connector, Capability.CREATE)
            record = self.new_record(7)
            key = str(record[self.description(connector).key])
            self.inject(emulator, Fault.REJECT, keys=[key], message="信用额度不足，不允许保存")
            results = connector.upsert(self.entity, [self.new_record(8), record])
        assert results[0].ok, results[0].error
        assert isinstance(results[1].error, PermanentError), results[1].error
        assert "信用额度不足" in results[1].error.reason

    def test_a_deleted_record_is_gone_and_deleting_it_again_is_fine(self, emulator: Any) -> None:
        with self.connected(emulator) as connector:
            self.require(connector, Capability.CREATE, Capability.DELETE)
            (created,) = connector.upsert(self.entity, [self.new_record(9)])
            assert created.ok, created.error
            assert created.external_id
            before = self.count(emulator)
            (deleted,) = connector.delete(self.entity, [created.external_id])
            (again,) = connector.delete(self.entity, [created.external_id])
        assert deleted.ok, deleted.error
        assert again.ok, f"deleting a record already gone failed: {again.error}"
        assert self.count(emulator) == before - 1

    def test_secrets_stay_out_of_logs_reprs_and_errors(
        self, emulator: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        self.seed(emulator, 3)
        errors: list[ConnectorError] = []
        shown: list[object] = []
        with self.connected(emulator) as connector:
            shown.extend(self.shown(connector))
            read_all(connector, self.entity, None, 100)
            bad, _ = self.bad_record(10)
            if Capability.CREATE in self.description(connector).capabilities:
                errors.extend(r.error for r in connector.upsert(self.entity, [bad]) if r.error)
        with self.connected(emulator, password=WRONG_PASSWORD) as connector:
            shown.extend(self.shown(connector))
            with pytest.raises(AuthError) as refused:
                read_all(connector, self.entity, None, 100)
            errors.append(refused.value)
        texts = [record.getMessage() for record in caplog.records]
        texts += [repr(thing) for thing in shown]
        texts += [f"{error} {error!r}" for error in errors]
        for secret in [*self.secrets(emulator), WRONG_PASSWORD]:
            leaks = [text for text in texts if secret in text]
            assert not leaks, f"a secret shows in: {leaks[0][:200]}"
