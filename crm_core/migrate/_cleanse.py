"""The cleansers of ``tongbu migrate``: pure functions that turn one legacy text value into its
clean form before validation.

Each returns the cleaned value, or None when the value is empty, and raises :class:`ValueError`
with a short human reason when the value cannot be cleaned (the reason goes to quarantine).
The text, date and amount cleansers live in :mod:`crm_core._cleanse` (the mapping language's
transforms use them too); phones and e-mail addresses use the dedup engine's normalisers. All
are re-exported here.
"""

from __future__ import annotations

from crm_core._cleanse import halfwidth, parse_amount, parse_date, squeeze
from crm_core.dedup._normalise import normalise_email, normalise_phone

__all__ = [
    "halfwidth",
    "normalise_email",
    "normalise_phone",
    "parse_amount",
    "parse_date",
    "squeeze",
]
