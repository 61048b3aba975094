"""The entry workflow judges a trade against the portfolio as it would be *after* it.

Uses the real PortfolioRiskCalculator on Black-Scholes chains (from test_portfolio_risk),
and a real simulated session to show every rejection lands in the entries table.
"""

from __future__ import annotations

import attrs
import pytest
from sessions import run, sim_config, table
from test_portfolio_risk import EXPIRY, call_spread, default_market, position, put_spread

from v6.config import LimitSettings, RiskSettings
from v6.domain.account import AccountSnapshot
from v6.domain.entries import EntryCandidate, LegTemplate, StrikeSelection
from v6.entry.workflow import EntryWorkflow
from v6.risk.portfolio_risk import PortfolioRiskCalculator

MARKET = default_market()


def account(buying_power: float = 90_000.0) -> AccountSnapshot:
    return AccountSnapshot(MARKET.time, 1e5, 1e5, buying_power, 1e4, 0.0, 0.0, 0.0)


def selection(legs, underlying: str = "SPY", net_mid: float = -1.50) -> StrikeSelection:
    candidate = EntryCandidate(
        strategy="test",
        underlying=underlying,
        structure="spread",
        legs=(LegTemplate("P", -1, delta=0.2),),
        min_dte=1,
        max_dte=60,
    )
    return StrikeSelection(candidate, EXPIRY, legs, net_mid=net_mid, net_natural=net_mid + 0.1)


def workflow(held=(), **limits) -> EntryWorkflow:
    calculator = PortfolioRiskCalculator(RiskSettings())
    flow = EntryWorkflow(LimitSettings(**limits), calculator)
    positions = [position(legs, pid=f"p{i}") for i, legs in enumerate(held)]
    flow.start_cycle(calculator.compute(positions, MARKET), positions, account(), set())
    return flow


def test_a_trade_within_every_limit_is_accepted_with_the_portfolio_after_it():
    flow = workflow()
    verdict, _ = flow.assess(selection(put_spread(580, 570)), MARKET)
    assert verdict.accepted, verdict.reason
    assert verdict.after.positions == 1 and verdict.after.beta_delta > 0  # short puts: long delta
    assert verdict.max_loss == pytest.approx(850.0)


def test_a_trade_that_pushes_delta_past_its_limit_is_refused_but_a_hedge_is_welcome():
    held = [put_spread(590, 580), put_spread(585, 575)]
    flow = workflow(held, max_abs_beta_delta=20.0)
    more, _ = flow.assess(selection(put_spread(595, 585)), MARKET)
    assert not more.accepted and "portfolio beta_delta" in more.reason
    hedge, _ = flow.assess(selection(call_spread(610, 620)), MARKET)
    assert hedge.accepted, hedge.reason  # still past the limit, but closer to flat


def test_trades_accepted_this_cycle_count_toward_the_next_ones():
    flow = workflow(max_abs_vega=25.0)  # about 10 per spread
    first, token = flow.assess(selection(put_spread(590, 580)), MARKET)
    assert first.accepted
    flow.accept(token)
    second, _ = flow.assess(selection(put_spread(590, 580)), MARKET)
    assert second.accepted  # alone each is fine...
    flow.accept(_)
    third, _ = flow.assess(selection(put_spread(590, 580)), MARKET)
    assert not third.accepted and "vega" in third.reason  # ...three together are not
    assert third.after.positions == 3


def test_the_worst_stress_scenario_limits_entries():
    flow = workflow(max_stress_loss=500.0)
    verdict, _ = flow.assess(selection(put_spread(590, 580)), MARKET)
    assert not verdict.accepted
    assert "worst stress loss" in verdict.reason and "spot -20%" in verdict.reason


def test_loss_per_underlying_and_concentration_are_checked_after_the_trade():
    held = [put_spread(580, 570), put_spread(575, 565)]
    per_underlying = workflow(held, max_loss_per_underlying=1_000.0)
    verdict, _ = per_underlying.assess(selection(call_spread(620, 630)), MARKET)
    assert not verdict.accepted and "SPY max loss" in verdict.reason
    qqq, _ = per_underlying.assess(selection(put_spread(480, 470, "QQQ"), underlying="QQQ"), MARKET)
    assert qqq.accepted, qqq.reason
    concentrated = workflow(held, max_underlying_share=0.05)
    verdict, _ = concentrated.assess(selection(call_spread(620, 630)), MARKET)
    assert not verdict.accepted and "concentration" in verdict.reason


def test_a_candidate_with_an_unquoted_leg_is_refused():
    legs = put_spread(580, 570)
    missing = (attrs.evolve(legs[0], contract=attrs.evolve(legs[0].contract, strike=581.5)),)
    verdict, _ = workflow().assess(selection(missing + legs[1:]), MARKET)
    assert not verdict.accepted and "cannot be valued" in verdict.reason


@pytest.mark.slow
def test_every_risk_rejection_is_stored_with_its_reason(tmp_path):
    cfg = sim_config(tmp_path / "store", days=1)
    cfg = attrs.evolve(cfg, limits=attrs.evolve(cfg.limits, max_abs_vega=1.0))
    run(cfg)
    entries = table(cfg, "entries")
    assert (entries.outcome == "accepted").sum() == 0
    assert entries.reason.str.contains("portfolio vega").sum() > 0
    assert table(cfg, "orders").empty
