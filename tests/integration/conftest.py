"""Fixtures of the integration tests: the hub wired to a Kingdee emulator."""

from tests.integration.sync_harness import hub_factory

__all__ = ["hub_factory"]
