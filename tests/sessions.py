"""Real simulated sessions and their tables: V6 ships these helpers in
``v6.testing.sessions`` (the same code the ``v6_session`` fixture runs)."""

from __future__ import annotations

from v6.testing.sessions import engine_for, latest, run, sim_config, table

__all__ = ["engine_for", "latest", "run", "sim_config", "table"]
