"""V6's pytest plugin: fixtures to test a V6 plugin against the real engine.

Installed with V6 (entry-point group ``pytest11``), so any test run in an environment
where V6 is installed has these fixtures; nothing to import or declare. Every fixture
is named ``v6_*``. They build on one config, ``v6_config``; override it in your own
``conftest.py`` to change the market, the seed or the plugins for every fixture at once.

==================  ==================================================================
fixture             what it gives
==================  ==================================================================
``v6_config``       a sim ``TradingConfig`` on a store in ``tmp_path`` (2 days, seed 7)
``v6_market``       the simulated market's first cycle, gated, as plugins see it
``v6_chain``        ``v6_market``'s chain of its first underlying (SPY)
``v6_history``      the ``MarketHistory`` after the first 30 simulated cycles
``v6_position``     an open 16-delta iron condor on ``v6_market``, filled at mid
``v6_mark``         ``v6_position`` marked on ``v6_market`` by the engine's own code
``v6_engine``       a factory: an engine with chosen plugins on ``v6_config``'s store
``v6_session``      a factory: run a whole simulated session, get its tables back
==================  ==================================================================

Modules are imported inside the fixtures, so loading this plugin costs nothing in a
test run that does not use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from v6.config import TradingConfig
    from v6.domain.market import MarketHistory, MarketView, OptionChain
    from v6.domain.positions import Position, PositionMark
    from v6.testing.sessions import Plugins, SimEngine, SimSession

HISTORY_CYCLES = 30


@pytest.fixture
def v6_config(tmp_path: Path) -> TradingConfig:
    """A sim config on a private store (``tmp_path / "v6-store"``): the embedded defaults
    over 2 simulated days (seed 7), with short-dated strategies and quick exits so a short
    session opens and closes positions (:func:`v6.testing.sessions.sim_config`)."""
    from v6.testing.sessions import sim_config

    return sim_config(tmp_path / "v6-store", days=2)


@pytest.fixture
def v6_market(v6_config: TradingConfig) -> MarketView:
    """The simulated market of ``v6_config`` at its first cycle, after the data-quality
    gate: the ``MarketView`` a plugin is handed (chains of SPY, QQQ and IWM)."""
    from v6.testing.markets import simulated_market

    return simulated_market(v6_config).view


@pytest.fixture
def v6_chain(v6_market: MarketView) -> OptionChain:
    """The gated option chain of ``v6_market``'s first underlying (SPY by default)."""
    return v6_market.chains[next(iter(v6_market.chains))]


@pytest.fixture
def v6_history(v6_config: TradingConfig) -> MarketHistory:
    """The ``MarketHistory`` the engine passes after the first 30 simulated cycles of
    ``v6_config`` (spots, ATM IV and VIX per cycle, oldest first)."""
    from v6.testing.markets import simulated_market

    return simulated_market(v6_config, cycles=HISTORY_CYCLES).history


@pytest.fixture
def v6_position(v6_market: MarketView) -> Position:
    """An open 16-delta iron condor with 5-point wings on ``v6_market``'s first underlying,
    filled at mid, booked as the engine books it (strategy ``test``)."""
    from v6.testing.positions import open_position

    return open_position(v6_market)


@pytest.fixture
def v6_mark(v6_position: Position, v6_market: MarketView) -> PositionMark:
    """``v6_position`` valued at ``v6_market``'s quotes (no P&L yet but the spread)."""
    from v6.testing.positions import mark_position

    return mark_position(v6_position, v6_market)


@pytest.fixture
def v6_engine(v6_config: TradingConfig) -> Iterator[Callable[..., SimEngine]]:
    """A factory: ``v6_engine(extra_plugins=[...], config=None, **sections)`` returns a
    :class:`~v6.testing.sessions.SimEngine` wired as ``v6 run`` wires it, on
    ``v6_config`` (or ``config``) with the plugin ``sections`` replaced (see
    :func:`~v6.testing.sessions.with_plugins`). Cycle it with ``.run(n)``; every engine is
    closed (its rows flushed) at the end of the test."""
    from v6.testing.sessions import sim_engine, with_plugins

    made: list[SimEngine] = []

    def factory(
        extra_plugins: Plugins = (),
        config: TradingConfig | None = None,
        **sections: Mapping[str, Any] | str | None,
    ) -> SimEngine:
        cfg = with_plugins(config or v6_config, **sections)
        engine = sim_engine(cfg, extra_plugins)
        made.append(engine)
        return engine

    yield factory
    for engine in made:
        engine.close()


@pytest.fixture
def v6_session(v6_config: TradingConfig) -> Callable[..., SimSession]:
    """A factory: ``v6_session(cycles=None, extra_plugins=[...], config=None, **sections)``
    runs a whole simulated session (as ``v6 run`` does) on ``v6_config`` (or ``config``)
    with the plugin ``sections`` replaced, and returns a
    :class:`~v6.testing.sessions.SimSession`: its output and tables (``positions()``,
    ``alerts("plugin_error")``, ``table("decisions")``...)."""
    from v6.testing.sessions import run_sim_session, with_plugins

    def factory(
        cycles: int | None = None,
        extra_plugins: Plugins = (),
        config: TradingConfig | None = None,
        **sections: Mapping[str, Any] | str | None,
    ) -> SimSession:
        cfg = with_plugins(config or v6_config, **sections)
        return run_sim_session(cfg, cycles, extra_plugins)

    return factory
