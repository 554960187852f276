"""Alembic migrations of the CRM core schema (run them with ``tongbu db upgrade``)."""
