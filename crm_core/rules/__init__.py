"""The CRM rules that run on the core database (DESIGN.md section 1): the public pools
(:mod:`~crm_core.rules.pool`), lead assignment (:mod:`~crm_core.rules.assignment`), scoring
(:mod:`~crm_core.rules.scoring`) and conversion (:mod:`~crm_core.rules.conversion`), the funnel
report (:mod:`~crm_core.rules.funnel`), reminders (:mod:`~crm_core.rules.reminders`) and the
notification outbox they all tell the sales teams through (:mod:`~crm_core.rules.notify`).
Their settings are one YAML file (:mod:`~crm_core.rules.settings`)."""

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
