"""Dedup and merge (DESIGN.md section 6): normalise, block, score, cluster, merge, undo.

* :func:`dedup_records` finds the records that are the same customer (blocking on several
  keys, a Fellegi-Sunter model trained by EM, guards, clustering without blind transitivity);
  :func:`read_records` and :func:`write_clusters` are ``tongbu dedup csv``'s file side.
"""

from crm_core._credit_code import (
    credit_code_check_char,
    is_valid_credit_code,
    normalise_credit_code,
)
from crm_core.dedup._entities import ENTITIES, EntitySpec
from crm_core.dedup._files import InputRecords, RecordReader, read_records, write_clusters
from crm_core.dedup._model import MatchModel, load_model, probability
from crm_core.dedup._run import (
    DEFAULT_THRESHOLD,
    DedupResult,
    PairExplanation,
    Progress,
    dedup_records,
    explain_pair,
)
from crm_core.errors import InvalidInput

__all__ = [
    "DEFAULT_THRESHOLD",
    "ENTITIES",
    "DedupResult",
    "EntitySpec",
    "InputRecords",
    "MatchModel",
    "PairExplanation",
    "Progress",
    "RecordReader",
    "credit_code_check_char",
    "dedup_records",
    "entity_spec",
    "explain_pair",
    "is_valid_credit_code",
    "load_model",
    "normalise_credit_code",
    "probability",
    "read_records",
    "write_clusters",
]


def entity_spec(name: str) -> EntitySpec:
    """The dedup description of ``account`` or ``contact``."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise InvalidInput(f"dedup knows {' and '.join(ENTITIES)} records, not {name!r}") from None
