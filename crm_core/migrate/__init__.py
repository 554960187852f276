"""Migration (DESIGN.md section 7): bulk import of legacy customer data into the CRM core.

* Sources stream rows from CSV files, ``.xlsx`` workbooks and legacy SQL databases
  (:func:`open_source`, :class:`CsvSource`, :class:`ExcelSource`, :class:`SqlSource`), each row a
  :class:`SourceRow` that says where it came from.
* Cleansers turn legacy text into clean values before validation (:func:`squeeze`,
  :func:`halfwidth`, :func:`parse_date`, :func:`parse_amount`, :func:`normalise_phone`,
  :func:`normalise_email`), raising ``ValueError`` with a reason for values they cannot clean.
"""

from crm_core.migrate._cleanse import (
    halfwidth,
    normalise_email,
    normalise_phone,
    parse_amount,
    parse_date,
    squeeze,
)
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
    "CsvSource",
    "ExcelSource",
    "Source",
    "SourceRow",
    "SqlSource",
    "halfwidth",
    "normalise_email",
    "normalise_phone",
    "open_source",
    "parse_amount",
    "parse_date",
    "squeeze",
    "to_text",
]
