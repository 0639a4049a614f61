"""The spec sync: spec store → workflows, with the override and fallback policy."""

from daemon.spec_sync.engine import SpecSync, SpecSyncReport

__all__ = ["SpecSync", "SpecSyncReport"]
