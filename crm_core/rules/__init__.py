"""The CRM rules that run on the core database: lead scoring (public pool, assignment and
conversion are to come)."""

from crm_core.rules.scoring import (
    DEFAULT_MODEL_PATH,
    LeadScore,
    ScoreLine,
    ScoringModel,
    default_model,
    load_model,
    rescore,
    rescore_leads,
    score,
    score_lead,
    score_leads,
)

__all__ = [
    "DEFAULT_MODEL_PATH",
    "LeadScore",
    "ScoreLine",
    "ScoringModel",
    "default_model",
    "load_model",
    "rescore",
    "rescore_leads",
    "score",
    "score_lead",
    "score_leads",
]
