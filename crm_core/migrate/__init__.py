"""Migration (DESIGN.md section 7): bulk import of legacy customer data into the CRM core.

* Sources stream rows from CSV files, ``.xlsx`` workbooks and legacy SQL databases
  (:func:`open_source`, :class:`CsvSource`, :class:`ExcelSource`, :class:`SqlSource`), each row a
  :class:`SourceRow` that says where it came from.
* Cleansers turn legacy text into clean values before validation (:func:`squeeze`,
  :func:`halfwidth`, :func:`parse_date`, :func:`parse_amount`, :func:`normalise_phone`,
  :func:`normalise_email`); a mapping names them as transforms (``date``, ``amount``,
  ``credit_code``, ``phone``...).
* :func:`run_migration` loads a source through a mapping file in chunks, merging the rows that
  are one customer, resumable after a crash, and returns the :class:`MigrationReport` that
  reconciles every row read.
"""

from crm_core.migrate._cleanse import (
    halfwidth,
    normalise_email,
    normalise_phone,
    parse_amount,
    parse_date,
    squeeze,
)
from crm_core.migrate._replay import ReplayOutcome, replay_migration_rows
from crm_core.migrate._report import Counts, MigrationReport, ReconciliationError
from crm_core.migrate._run import MigrationOptions, MigrationProgress, run_migration
from crm_core.migrate._sources import (
    CsvSource,
    ExcelSource,
    Source,
    SourceRow,
    SqlSource,
    open_source,
    to_text,
)

__all__ = [
    "Counts",
    "CsvSource",
    "ExcelSource",
    "MigrationOptions",
    "MigrationProgress",
    "MigrationReport",
    "ReconciliationError",
    "ReplayOutcome",
    "Source",
    "SourceRow",
    "SqlSource",
    "halfwidth",
    "normalise_email",
    "normalise_phone",
    "open_source",
    "parse_amount",
    "parse_date",
    "replay_migration_rows",
    "run_migration",
    "squeeze",
    "to_text",
]
