"""Dedup and merge (DESIGN.md section 6): normalise, block, score, cluster, merge, undo."""

from crm_core.dedup._credit_code import (
    credit_code_check_char,
    is_valid_credit_code,
    normalise_credit_code,
)

__all__ = ["credit_code_check_char", "is_valid_credit_code", "normalise_credit_code"]
