"""Portfolio risk of a 200-position book on the simulated market's chains.

Run with `make bench`. Target: under 5 ms for 200 iron condors x 36 stress scenarios
(the default risk grid), so the entry gate can re-measure the portfolio for every
candidate. Nothing here asserts on time.
"""

from __future__ import annotations

import numpy as np

from v6.config_loader import load_config
from v6.domain.contracts import Leg
from v6.domain.market import MarketView
from v6.domain.positions import Position, PositionStatus
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket
from v6.risk.portfolio_risk import PortfolioRiskCalculator

N_POSITIONS = 200


def _condors(view: MarketView, symbols: tuple[str, ...]) -> list[Position]:
    """Iron condors across ``symbols``, four expiries and shifting strikes, 1-3 units."""
    positions = []
    for n in range(N_POSITIONS):
        symbol = symbols[n % len(symbols)]
        chain = view.chains[symbol]
        expiry = chain.expiries()[2 + n % 4]
        rows = chain.expiry == expiry
        spot = view.underlyings[symbol].mid
        puts = np.unique(chain.strike[rows & ~chain.is_call & (chain.strike < spot)])
        calls = np.unique(chain.strike[rows & chain.is_call & (chain.strike > spot)])
        short_put, long_put = puts[-5 - n % 5], puts[-10 - n % 5]
        short_call, long_call = calls[4 + n % 5], calls[9 + n % 5]
        legs = []
        for strike, is_call, ratio in (
            (long_put, False, 1),
            (short_put, False, -1),
            (short_call, True, -1),
            (long_call, True, 1),
        ):
            i = int(np.flatnonzero(rows & (chain.strike == strike) & (chain.is_call == is_call))[0])
            legs.append(Leg(chain.contract(i), ratio))
        positions.append(
            Position(
                f"p{n}",
                "iron_condor",
                symbol,
                "iron_condor",
                tuple(legs),
                1 + n % 3,
                -1.0,
                view.time,
                PositionStatus.OPEN,
                100.0,
                400.0,
            )
        )
    return positions


def test_portfolio_risk_200_iron_condors_36_scenarios(benchmark):
    cfg = load_config(None)
    calendar = ExchangeCalendar()
    market = SimMarket(cfg.sim, cfg.underlyings, calendar)
    clock = SimClock(calendar, cfg.sim.start, 1, cfg.cycle.interval_seconds)
    view = market.snapshot(clock.next_cycle())
    positions = _condors(view, tuple(cfg.underlyings))
    calc = PortfolioRiskCalculator(cfg.risk)

    risk = benchmark(calc.compute, positions, view)

    benchmark.extra_info["positions"] = len(risk)
    benchmark.extra_info["scenarios"] = len(risk.scenarios)
    assert len(risk) == N_POSITIONS
    assert len(risk.scenarios) == 36
    assert risk.valid.all()
    assert np.isfinite(risk.stress_pnl).all()
