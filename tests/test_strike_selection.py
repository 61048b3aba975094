"""Skew-aware strike selection (``smart_strike``) and the shared delta search under it.

Chains are hand-made smiles priced with the real Black-Scholes-Merton model, so every
quote's delta is consistent with its IV: a steep put skew, a flat smile and an inverted
(call-rich) one. Expected strikes come from the plain delta search with explicitly
shifted targets, and the expected skew from an independent bisection for the true
25-delta strike. The last tests run both selectors on the simulator at two skew slopes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import pytest
from v6_plugins.strategies import iron_condor
from v6_plugins.strike_selectors import delta_target, smart_strike

from v6.config_loader import load_config
from v6.domain.contracts import Right
from v6.domain.entries import EntryCandidate, LegTemplate, NoSelection, StrikeSelection
from v6.domain.market import MarketView, OptionChain, UnderlyingQuote
from v6.domain.plugins import PluginKind
from v6.entry.strike_selection import choose_expiry, select_by_delta, wing_width
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_market import SimMarket
from v6.pricing import bsm_greeks

NOW = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
EXPIRIES = (date(2026, 1, 16), date(2026, 2, 2), date(2026, 2, 20))  # 10, 27 and 45 DTE
TRADED = date(2026, 2, 2)  # nearest the middle of a 7-45 DTE window
RATE = 0.04
ATM_VOL = 0.20
STEEP, FLAT, INVERTED = 0.25, 0.0, -0.20


def smile_iv(strike, t, slope: float, spot: float = 100.0) -> np.ndarray:
    """A linear smile in standardised moneyness (arbitrage-free over these strikes)."""
    z = np.log(np.asarray(strike) / (spot * np.exp(RATE * np.asarray(t))))
    z = z / (ATM_VOL * np.sqrt(t))
    return ATM_VOL * (1.0 - slope * np.clip(z, -3.0, 3.0))


def skew_chain(
    slope: float,
    strikes: Sequence[float] = tuple(np.arange(60.0, 140.5, 1.0)),
    expiries: Sequence[date] = EXPIRIES,
    spot: float = 100.0,
    half_spread: float = 0.025,
) -> OptionChain:
    """Puts and calls at every strike and expiry on a smile of ``slope``, quoted at BSM."""
    k1 = np.asarray(strikes, dtype=float)
    expiry = np.repeat(np.array(expiries, dtype="datetime64[D]"), 2 * k1.size)
    strike = np.tile(np.concatenate([k1, k1]), len(expiries))
    is_call = np.tile(np.repeat([False, True], k1.size), len(expiries))
    t = (expiry - np.datetime64(NOW.date(), "D")).astype(float) / 365.0
    iv = smile_iv(strike, t, slope, spot)
    g = bsm_greeks(spot, strike, t, RATE, 0.0, iv, is_call)
    bid = np.maximum(np.round(g.price - half_spread, 2), 0.0)
    return OptionChain(
        underlying="SPY",
        as_of=NOW,
        spot=spot,
        expiry=expiry,
        strike=strike,
        is_call=is_call,
        bid=bid,
        ask=np.round(bid + 2 * half_spread, 2),
        iv=iv,
        delta=g.delta,
        gamma=g.gamma,
        vega=g.vega,
        theta=g.theta,
        quote_time=np.full(strike.size, np.datetime64(NOW.replace(tzinfo=None), "us")),
    )


def true_iv_at_delta(slope: float, expiry: date, is_call: bool, target: float) -> float:
    """IV at the strike whose BSM |delta| is exactly ``target``, found by bisection."""
    t = (expiry - NOW.date()).days / 365.0

    def abs_delta(k: float) -> float:
        iv = float(smile_iv(k, t, slope))
        return abs(float(bsm_greeks(100.0, k, t, RATE, 0.0, iv, is_call).delta))

    lo, hi = 50.0, 150.0  # put |delta| rises with the strike, call |delta| falls
    for _ in range(80):
        k = (lo + hi) / 2
        if (abs_delta(k) < target) != is_call:
            lo = k
        else:
            hi = k
    return float(smile_iv((lo + hi) / 2, t, slope))


CONDOR = (
    LegTemplate(Right.PUT, -1, delta=0.16),
    LegTemplate(Right.PUT, 1, anchor=0, offset=-5.0),
    LegTemplate(Right.CALL, -1, delta=0.16),
    LegTemplate(Right.CALL, 1, anchor=2, offset=5.0),
)


def candidate(legs=CONDOR, min_credit: float = 0.0) -> EntryCandidate:
    return EntryCandidate(
        strategy="test",
        underlying="SPY",
        structure="iron_condor",
        legs=legs,
        min_dte=7,
        max_dte=45,
        min_credit=min_credit,
    )


def smart(cand: EntryCandidate, chain: OptionChain, **settings) -> StrikeSelection | None:
    return smart_strike.v6_select_strikes(
        candidate=cand, chain=chain, settings=smart_strike.Settings(**settings)
    )


def plain(cand: EntryCandidate, chain: OptionChain) -> StrikeSelection | None:
    return delta_target.v6_select_strikes(
        candidate=cand, chain=chain, settings=delta_target.Settings()
    )


def with_targets(cand, chain, *targets, **kwargs) -> StrikeSelection | None:
    return select_by_delta(
        cand,
        chain,
        target_dte=None,
        max_spread_fraction=0.5,
        delta_targets=targets,
        min_credit=kwargs.pop("min_credit", 0.0),
        **kwargs,
    )


def strikes(selection: StrikeSelection) -> list[float]:
    return [leg.contract.strike for leg in selection.legs]


def ratio_on(chain: OptionChain) -> float:
    return smart_strike.measure_skew(chain, np.datetime64(TRADED)).ratio


# -- measuring the skew ------------------------------------------------------------------


@pytest.mark.parametrize("slope", [STEEP, FLAT, INVERTED])
def test_skew_ratio_is_the_25_delta_put_iv_over_the_25_delta_call_iv(slope):
    reading = smart_strike.measure_skew(skew_chain(slope), np.datetime64(TRADED), 0.25)
    put_iv = true_iv_at_delta(slope, TRADED, False, 0.25)
    call_iv = true_iv_at_delta(slope, TRADED, True, 0.25)
    assert reading.measured
    assert reading.put_iv == pytest.approx(put_iv, rel=2e-3)
    assert reading.call_iv == pytest.approx(call_iv, rel=2e-3)
    assert reading.ratio == pytest.approx(put_iv / call_iv, rel=4e-3)


def test_steep_skew_reads_above_one_flat_exactly_one_and_inverted_below_one():
    assert ratio_on(skew_chain(STEEP)) > 1.2
    assert ratio_on(skew_chain(FLAT)) == pytest.approx(1.0, abs=1e-12)
    assert ratio_on(skew_chain(INVERTED)) < 0.9


def test_the_skew_is_read_on_the_expiry_the_selection_trades():
    chain = skew_chain(STEEP)
    expiry = choose_expiry(candidate(), chain, target_dte=None)
    assert expiry == np.datetime64(TRADED)
    assert plain(candidate(), chain).expiry == TRADED
    # Bend only the traded expiry's calls: the ratio read must follow them.
    calls = (chain.expiry == expiry) & chain.is_call
    bent = attrs.evolve(chain, iv=np.where(calls, chain.iv * 0.5, chain.iv))
    assert smart_strike.measure_skew(bent, expiry).ratio == pytest.approx(
        2 * ratio_on(chain), rel=1e-9
    )
    other = np.datetime64(EXPIRIES[0])
    assert (
        smart_strike.measure_skew(bent, other).ratio
        == smart_strike.measure_skew(chain, other).ratio
    )


def test_invalid_quotes_never_bend_the_measured_skew():
    chain = skew_chain(STEEP)
    bad = np.zeros(len(chain), dtype=bool)
    bad[::3] = True  # every third quote failed the gate and carries a nonsense IV
    corrupted = attrs.evolve(chain, iv=np.where(bad, 3.0, chain.iv), valid=~bad)
    clean = smart_strike.measure_skew(chain.select(~bad), np.datetime64(TRADED))
    read = smart_strike.measure_skew(corrupted, np.datetime64(TRADED))
    assert (read.put_iv, read.call_iv) == (clean.put_iv, clean.call_iv)


def test_unmeasurable_skew_names_the_reason():
    chain = skew_chain(STEEP)
    expiry = np.datetime64(TRADED)
    one_put = (chain.expiry == expiry) & ~chain.is_call & (chain.strike == 95.0)
    lonely = chain.with_validity(chain.is_call | one_put)
    reading = smart_strike.measure_skew(lonely, expiry)
    assert not reading.measured
    assert np.isnan(reading.ratio)
    assert "1 usable put quote" in reading.problem
    near_money = skew_chain(STEEP, strikes=(99.0, 100.0, 101.0))
    assert "no put quotes either side of 0.25 delta" in (
        smart_strike.measure_skew(near_money, expiry).problem
    )
    nan_calls = attrs.evolve(chain, iv=np.where(chain.is_call, np.nan, chain.iv))
    assert "0 usable call quote" in smart_strike.measure_skew(nan_calls, expiry).problem


# -- moving the strikes ------------------------------------------------------------------


def test_steep_put_skew_sells_the_short_put_farther_out_than_delta_target():
    chain = skew_chain(STEEP)
    settings = {"neutral_ratio": 1.25, "sensitivity": 0.20, "max_shift": 0.06}
    picked = smart(candidate(), chain, **settings)
    baseline = plain(candidate(), chain)
    ratio = ratio_on(chain)
    shift = min(0.20 * (ratio - 1.25), 0.06)
    assert 0 < shift < 0.06  # this test exercises the uncapped shift
    assert strikes(picked) == strikes(
        with_targets(candidate(), chain, 0.16 - shift, None, None, None)
    )
    assert strikes(picked)[0] < strikes(baseline)[0]  # the put: farther out
    assert strikes(picked)[1] == strikes(picked)[0] - 5  # its wing followed
    assert strikes(picked)[2:] == strikes(baseline)[2:]  # the call side: unchanged
    assert f"skew {ratio:.2f}" in picked.reason
    assert f"put delta 0.16->{0.16 - shift:.2f}" in picked.reason
    assert picked.warnings == ()


def test_flat_skew_at_the_neutral_ratio_picks_exactly_what_delta_target_picks():
    chain = skew_chain(FLAT)
    picked = smart(candidate(), chain, neutral_ratio=1.0)
    baseline = plain(candidate(), chain)
    assert picked.legs == baseline.legs
    assert (picked.net_mid, picked.net_natural) == (baseline.net_mid, baseline.net_natural)
    assert "skew 1.00" in picked.reason and "no shift" in picked.reason
    assert picked.warnings == ()


def test_rich_side_closer_sells_the_rich_put_closer_to_the_money():
    chain = skew_chain(STEEP)
    closer = smart(candidate(), chain, neutral_ratio=1.10, rich_side="closer")
    farther = smart(candidate(), chain, neutral_ratio=1.10, rich_side="farther")
    baseline = plain(candidate(), chain)
    assert strikes(farther)[0] < strikes(baseline)[0] < strikes(closer)[0] < 100.0
    assert strikes(closer)[2:] == strikes(baseline)[2:]
    assert -closer.net_mid > -baseline.net_mid  # closer in collects more of the premium


def test_inverted_skew_moves_the_short_call_and_leaves_the_put():
    chain = skew_chain(INVERTED)
    picked = smart(candidate(), chain, neutral_ratio=1.10)
    baseline = plain(candidate(), chain)
    assert strikes(picked)[2] > strikes(baseline)[2]  # the rich call: farther out
    assert strikes(picked)[3] == strikes(picked)[2] + 5
    assert strikes(picked)[:2] == strikes(baseline)[:2]
    assert "call delta 0.16->" in picked.reason


def test_the_shift_is_capped_at_max_shift():
    chain = skew_chain(STEEP)
    picked = smart(candidate(), chain, neutral_ratio=1.0, sensitivity=10.0, max_shift=0.05)
    assert strikes(picked) == strikes(with_targets(candidate(), chain, 0.11, None, None, None))
    assert "put delta 0.16->0.11" in picked.reason


def test_the_shift_never_takes_a_short_below_min_delta_nor_past_the_money():
    chain = skew_chain(STEEP)
    big = {"neutral_ratio": 1.0, "sensitivity": 10.0, "max_shift": 0.4}
    floored = smart(candidate(), chain, min_delta=0.09, **big)
    assert strikes(floored) == strikes(with_targets(candidate(), chain, 0.09, None, None, None))
    assert "put delta 0.16->0.09" in floored.reason
    at_the_money = smart(candidate(), chain, rich_side="closer", **big)
    assert (
        strikes(at_the_money)[0]
        == strikes(with_targets(candidate(), chain, 0.50, None, None, None))[0]
    )


def test_min_credit_steps_the_shift_down_then_refuses():
    chain = skew_chain(STEEP)
    settings = {"neutral_ratio": 1.0, "sensitivity": 10.0, "max_shift": 0.08}
    full, half, none = (
        with_targets(candidate(), chain, target, None, None, None) for target in (0.08, 0.12, 0.16)
    )
    credit_full, credit_half, credit_none = (-s.net_mid for s in (full, half, none))
    assert credit_full < credit_half < credit_none  # farther out, less credit
    assert strikes(smart(candidate(), chain, **settings)) == strikes(full)

    stepped = smart(candidate(), chain, min_credit=(credit_full + credit_half) / 2, **settings)
    assert strikes(stepped) == strikes(half)
    assert "half shift" in stepped.reason and f"credit {credit_full:.2f}" in stepped.reason

    unshifted = smart(candidate(), chain, min_credit=(credit_half + credit_none) / 2, **settings)
    assert strikes(unshifted) == strikes(none)
    assert "no shift" in unshifted.reason

    refused = smart(candidate(), chain, min_credit=credit_none + 0.01, **settings)
    assert isinstance(refused, NoSelection)
    # Why each step failed, after the skew it measured.
    assert refused.reason.startswith("skew ")
    for step, credit in (("full shift", credit_full), ("half shift", credit_half)):
        assert f"{step}: credit {credit:.2f} < {credit_none + 0.01:.2f}" in refused.reason
    assert f"no shift: credit {credit_none:.2f} < " in refused.reason
    # The candidate's own minimum applies when it is the larger one.
    own = smart(candidate(min_credit=credit_none + 0.01), chain, **settings)
    assert isinstance(own, NoSelection)
    taken = smart(candidate(min_credit=credit_none - 0.01), chain, **settings)
    assert isinstance(taken, StrikeSelection)


def test_max_width_refuses_wider_wings():
    chain = skew_chain(STEEP, strikes=tuple(np.arange(60.0, 140.5, 2.5)))
    wide = (
        LegTemplate(Right.PUT, -1, delta=0.16),
        LegTemplate(Right.PUT, 1, anchor=0, offset=-4.0),  # nearest listed: 5 below
    )
    picked = smart(candidate(wide), chain, max_width=5.0)
    assert wing_width(candidate(wide), np.array(strikes(picked))) == 5.0
    too_wide = smart(candidate(wide), chain, max_width=4.9)
    assert isinstance(too_wide, NoSelection)
    assert "wing 5 points wide, over the 4.9 maximum" in too_wide.reason
    assert with_targets(candidate(wide), chain, None, None, max_width=4.9) is None


def test_a_shift_into_sparse_strikes_too_wide_for_max_width_steps_back():
    dense = skew_chain(STEEP)
    legs = (
        LegTemplate(Right.PUT, -1, delta=0.16),
        LegTemplate(Right.PUT, 1, anchor=0, offset=-1.0),
    )
    settings = {"neutral_ratio": 1.0, "sensitivity": 10.0, "max_shift": 0.08, "max_width": 2.0}
    half_put = strikes(with_targets(candidate(legs), dense, 0.12, None))[0]
    assert strikes(with_targets(candidate(legs), dense, 0.08, None))[0] < half_put
    # Below the half-shift put's wing only every fifth strike is listed.
    k = np.arange(60.0, 140.5, 1.0)
    sparse = skew_chain(STEEP, strikes=k[(k >= half_put - 1) | ((half_put - 1 - k) % 5 == 0)])
    picked = smart(candidate(legs), sparse, **settings)
    assert strikes(picked) == [half_put, half_put - 1]
    assert "half shift; full shift: wing 5 points wide, over the 2 maximum" in picked.reason


def test_unmeasurable_skew_falls_back_to_plain_delta_targeting_with_a_warning():
    chain = skew_chain(STEEP)
    traded_calls = (chain.expiry == np.datetime64(TRADED)) & chain.is_call
    no_call_iv = attrs.evolve(chain, iv=np.where(traded_calls, np.nan, chain.iv))
    picked = smart(candidate(), no_call_iv, neutral_ratio=1.0)
    assert picked.legs == plain(candidate(), no_call_iv).legs
    (warning,) = picked.warnings
    assert warning.startswith("skew unmeasurable on SPY 2026-02-02: ")
    assert "call" in warning and warning.endswith("; plain delta targeting")
    assert "plain delta targeting" in picked.reason


def test_invalid_quotes_are_never_chosen():
    chain = skew_chain(STEEP)
    first = smart(candidate(), chain, neutral_ratio=1.10)
    valid = chain.valid.copy()
    for leg in first.legs:
        valid[chain.index_of(leg.contract)] = False
    gated = chain.with_validity(valid)
    again = smart(candidate(), gated, neutral_ratio=1.10)
    rows = [gated.index_of(leg.contract) for leg in again.legs]
    assert gated.valid[rows].all()
    assert not set(again.legs) & set(first.legs)
    nothing = smart(candidate(), chain.with_validity(np.zeros(len(chain), dtype=bool)))
    assert nothing == NoSelection("no expiry 7-45 DTE with valid quotes")


# -- the shared search and the plugin's contract -----------------------------------------


def test_delta_overrides_must_match_the_legs_and_only_move_delta_legs():
    chain = skew_chain(FLAT)
    with pytest.raises(ValueError, match="one per leg"):
        with_targets(candidate(), chain, 0.10, None)
    with pytest.raises(ValueError, match="placed by its anchor"):
        with_targets(candidate(), chain, None, 0.10, None, None)
    assert strikes(with_targets(candidate(), chain, None, None, None, None)) == strikes(
        plain(candidate(), chain)
    )


def test_smart_strike_declares_itself_a_strike_selector_with_validated_settings():
    info = smart_strike.v6_plugin_info()
    assert (info.name, info.kind, info.settings) == (
        "smart_strike",
        PluginKind.STRIKE_SELECTOR,
        smart_strike.Settings,
    )
    for bad in (
        {"rich_side": "sideways"},
        {"max_shift": -0.01},
        {"min_delta": 0.0},
        {"reference_delta": 0.5},
        {"max_width": 0.0},
        {"min_credit": -1.0},
    ):
        with pytest.raises(ValueError):
            smart_strike.Settings(**bad)


# -- end to end on the simulator ---------------------------------------------------------


def sim_chain(skew_slope: float) -> OptionChain:
    """SPY's chain at 10:00 New York on the first sim day, with the given smile slope."""
    config = load_config(None)
    underlyings = dict(config.sim.underlyings)
    underlyings["SPY"] = attrs.evolve(underlyings["SPY"], skew_slope=skew_slope)
    sim = SimMarket(attrs.evolve(config.sim, underlyings=underlyings), ["SPY"], ExchangeCalendar())
    when = datetime.combine(config.sim.start, time(10), ZoneInfo("America/New_York"))
    return sim.snapshot(when.astimezone(UTC)).chains["SPY"]


def sim_condor(chain: OptionChain) -> EntryCandidate:
    """The built-in iron condor strategy's candidate for SPY on this chain."""
    quote = UnderlyingQuote("SPY", chain.spot - 0.005, chain.spot + 0.005, chain.spot, chain.as_of)
    market = MarketView(chain.as_of, {"SPY": quote}, {"SPY": chain}, vix=15.0)
    (cand,) = iron_condor.v6_propose_entries(
        market=market,
        regimes={},
        positions=[],
        underlyings=["SPY"],
        settings=iron_condor.Settings(),
    )
    return cand


@pytest.fixture(scope="module")
def steep_and_flat() -> tuple[OptionChain, OptionChain]:
    return sim_chain(0.45), sim_chain(0.0)


def test_the_sim_skew_slope_sets_the_measured_skew(steep_and_flat):
    steep, flat = steep_and_flat
    assert steep.spot == flat.spot  # same seed, same time: only the smile differs
    expiry = choose_expiry(sim_condor(steep), steep, target_dte=None)
    steep_ratio = smart_strike.measure_skew(steep, expiry).ratio
    flat_ratio = smart_strike.measure_skew(flat, expiry).ratio
    assert steep_ratio > 1.6
    assert flat_ratio == pytest.approx(1.0, abs=0.03)  # only the wing curvature is left


def test_on_the_sim_a_steep_skew_moves_the_short_put_out_and_a_flat_one_does_not(
    steep_and_flat,
):
    steep, flat = steep_and_flat
    settings = smart_strike.Settings()
    results = {}
    for name, chain in (("steep", steep), ("flat", flat)):
        cand = sim_condor(chain)
        chosen = smart_strike.v6_select_strikes(candidate=cand, chain=chain, settings=settings)
        baseline = plain(cand, chain)
        results[name] = (chosen, baseline)
        assert chosen.warnings == ()
        assert chosen.expiry == baseline.expiry
    steep_pick, steep_plain = results["steep"]
    flat_pick, flat_plain = results["flat"]
    assert steep_pick.legs[0].contract.strike < steep_plain.legs[0].contract.strike
    assert steep_pick.legs[2:] == steep_plain.legs[2:]  # rich puts: the call side stays
    assert flat_pick.legs[:2] == flat_plain.legs[:2]  # flat smile: the put stays put
    assert "put delta" in steep_pick.reason and "put delta" not in flat_pick.reason
