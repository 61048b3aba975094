"""Black-Scholes-Merton prices, Greeks and implied volatility over whole chains."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from v6.pricing import DEFAULT_VOL_MIN, Greeks, bsm_greeks, bsm_price, implied_vol
from v6.pricing.expiry import years_to_expiry
from v6.pricing.quote_greeks import greeks_from_mid

HOUR = 1.0 / (365.0 * 24.0)
DAY = 1.0 / 365.0


def random_options(n: int, seed: int) -> dict[str, np.ndarray]:
    """Options with spots 10-1000, strikes 50%-200%, t 1 day-3 years, vols 5%-150%."""
    rng = np.random.default_rng(seed)
    spot = rng.uniform(10.0, 1000.0, n)
    return {
        "spot": spot,
        "strike": spot * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n)),
        "t": np.exp(rng.uniform(np.log(DAY), np.log(3.0), n)),
        "rate": rng.uniform(-0.01, 0.08, n),
        "dividend": rng.uniform(0.0, 0.06, n),
        "vol": rng.uniform(0.05, 1.5, n),
        "is_call": rng.random(n) < 0.5,
    }


def time_value(price, spot, strike, t, rate, dividend, is_call):
    forward_value = spot * np.exp(-dividend * t) - strike * np.exp(-rate * t)
    return price - np.maximum(np.where(is_call, forward_value, -forward_value), 0.0)


# --- published values -------------------------------------------------------------------


def test_matches_hull_black_scholes_example():
    # Hull, Options, Futures, and Other Derivatives, the worked example of the chapter on the
    # Black-Scholes-Merton model: S0=42, K=40, r=10%, sigma=20%, T=6 months
    # -> c = 4.76, p = 0.81 (quoted to the cent).
    call, put = bsm_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, [True, False])
    assert call == pytest.approx(4.76, abs=0.005)
    assert put == pytest.approx(0.81, abs=0.005)


def test_matches_haug_merton_dividend_yield_example():
    # Haug, The Complete Guide to Option Pricing Formulas (2nd ed.), Merton (1973) options on
    # a stock index with a continuous dividend yield: put, S=100, K=95, T=0.5, r=10%,
    # q=5%, sigma=20% -> p = 2.4648.
    put = bsm_price(100.0, 95.0, 0.5, 0.10, 0.05, 0.20, False)
    assert put == pytest.approx(2.4648, abs=5e-5)


def test_matches_hull_greek_letters_example():
    # Hull, Options, Futures, and Other Derivatives, chapter "The Greek Letters": a call with
    # S0=49, K=50, r=5%, sigma=20%, T=20 weeks has delta 0.522, gamma 0.066, vega 12.1
    # (per 1.00 vol), theta -4.31 per year and rho 8.91 (per 1.00 rate).
    g = bsm_greeks(49.0, 50.0, 20.0 / 52.0, 0.05, 0.0, 0.20, True)
    assert isinstance(g, Greeks)
    assert g.delta == pytest.approx(0.522, abs=5e-4)
    assert g.gamma == pytest.approx(0.066, abs=5e-4)
    assert g.vega == pytest.approx(12.1, abs=0.05)
    assert g.theta * 365.0 == pytest.approx(-4.31, abs=0.005)
    assert g.rho == pytest.approx(8.91, abs=0.005)


# --- structural properties --------------------------------------------------------------


def test_put_call_parity_holds_with_dividend_yield():
    o = random_options(5_000, seed=1)
    args = (o["spot"], o["strike"], o["t"], o["rate"], o["dividend"], o["vol"])
    call = bsm_price(*args, True)
    put = bsm_price(*args, False)
    forward_value = o["spot"] * np.exp(-o["dividend"] * o["t"]) - o["strike"] * np.exp(
        -o["rate"] * o["t"]
    )
    assert_allclose(call - put, forward_value, rtol=0, atol=1e-11 * o["spot"].max())


def test_greeks_price_equals_bsm_price():
    o = random_options(2_000, seed=2)
    g = bsm_greeks(**o)
    assert_allclose(g.price, bsm_price(**o), rtol=1e-15, atol=0)


def test_greeks_match_central_finite_differences_of_the_price():
    rng = np.random.default_rng(3)
    n = 3_000
    spot = rng.uniform(50.0, 150.0, n)
    strike = spot * rng.uniform(0.7, 1.3, n)
    t = rng.uniform(0.05, 2.0, n)
    rate = rng.uniform(0.0, 0.08, n)
    dividend = rng.uniform(0.0, 0.05, n)
    vol = rng.uniform(0.1, 0.8, n)
    is_call = rng.random(n) < 0.5

    def price(s=spot, tt=t, r=rate, v=vol):
        return bsm_price(s, strike, tt, r, dividend, v, is_call)

    g = bsm_greeks(spot, strike, t, rate, dividend, vol, is_call)
    hs = 1e-5 * spot
    delta = (price(s=spot + hs) - price(s=spot - hs)) / (2 * hs)
    hg = 2e-4 * spot
    gamma = (price(s=spot + hg) - 2 * price() + price(s=spot - hg)) / (hg * hg)
    h = 1e-6
    vega = (price(v=vol + h) - price(v=vol - h)) / (2 * h)
    theta = -(price(tt=t + h) - price(tt=t - h)) / (2 * h) / 365.0
    rho = (price(r=rate + h) - price(r=rate - h)) / (2 * h)

    assert_allclose(g.delta, delta, rtol=1e-6, atol=1e-8)
    assert_allclose(g.gamma, gamma, rtol=1e-4, atol=1e-7)
    assert_allclose(g.vega, vega, rtol=1e-6, atol=1e-6)
    assert_allclose(g.theta, theta, rtol=1e-5, atol=1e-8)
    assert_allclose(g.rho, rho, rtol=1e-6, atol=1e-6)


@pytest.mark.filterwarnings("error")
def test_expired_option_is_worth_intrinsic_value():
    spot = np.array([110.0, 90.0, 100.0, 110.0, 90.0])
    is_call = np.array([True, True, True, False, False])
    g = bsm_greeks(spot, 100.0, 0.0, 0.05, 0.02, 0.3, is_call)
    assert_allclose(g.price, [10.0, 0.0, 0.0, 0.0, 10.0], atol=1e-14)
    assert_allclose(g.delta, [1.0, 0.0, 0.5, 0.0, -1.0], atol=1e-14)
    assert_allclose(g.gamma, 0.0)
    assert_allclose(g.vega, 0.0)


@pytest.mark.filterwarnings("error")
def test_zero_vol_option_is_worth_discounted_forward_intrinsic():
    spot, strike, t, rate, dividend = 100.0, np.array([80.0, 120.0]), 0.5, 0.05, 0.01
    forward_value = spot * np.exp(-dividend * t) - strike * np.exp(-rate * t)
    call = bsm_price(spot, strike, t, rate, dividend, 0.0, True)
    put = bsm_price(spot, strike, t, rate, dividend, 0.0, False)
    assert_allclose(call, np.maximum(forward_value, 0.0), rtol=1e-14)
    assert_allclose(put, np.maximum(-forward_value, 0.0), rtol=1e-14)
    g = bsm_greeks(spot, strike, t, rate, dividend, 0.0, True)
    assert np.isfinite([g.delta, g.gamma, g.vega, g.theta, g.rho]).all()
    # Deep in the money at zero vol the call is a forward: delta e^{-qt}, rho K t e^{-rt}.
    assert g.delta[0] == pytest.approx(np.exp(-dividend * t))
    assert g.rho[0] == pytest.approx(80.0 * t * np.exp(-rate * t))


@pytest.mark.filterwarnings("error")
def test_invalid_pricing_inputs_give_nan_without_warnings():
    spot = [np.nan, 0.0, -5.0, 100.0, 100.0, 100.0, np.inf, 100.0]
    strike = [100.0, 100.0, 100.0, 0.0, 100.0, 100.0, 100.0, 100.0]
    t = [0.5, 0.5, 0.5, 0.5, -0.1, 0.5, 0.5, 0.5]
    vol = [0.2, 0.2, 0.2, 0.2, 0.2, -0.2, 0.2, 0.2]
    g = bsm_greeks(spot, strike, t, 0.05, 0.0, vol, True)
    for field in (g.price, g.delta, g.gamma, g.vega, g.theta, g.rho):
        assert np.isnan(field[:-1]).all()
        assert np.isfinite(field[-1])


def test_arguments_broadcast_and_scalars_give_zero_d_arrays():
    strikes = np.array([90.0, 100.0, 110.0])
    expiries = np.array([[0.1], [0.5]])
    prices = bsm_price(100.0, strikes, expiries, 0.03, 0.0, 0.25, True)
    assert prices.shape == (2, 3)
    assert prices[1, 0] == pytest.approx(float(bsm_price(100.0, 90.0, 0.5, 0.03, 0.0, 0.25, True)))
    one = bsm_price(100.0, 100.0, 0.5, 0.03, 0.0, 0.25, True)
    assert isinstance(one, np.ndarray)
    assert one.shape == ()
    assert bsm_greeks(100.0, strikes, 0.5, 0.03, 0.0, 0.25, False).gamma.shape == (3,)
    iv = implied_vol(prices, 100.0, strikes, expiries, 0.03, 0.0, True)
    assert iv.shape == (2, 3)
    assert_allclose(iv, 0.25, atol=1e-10)


# --- implied volatility -----------------------------------------------------------------


def stress_grid() -> dict[str, np.ndarray]:
    """Strikes 20%-500% of spot, 1 hour-3 years, vols 5%-300%, both rights, r and q signs."""
    strikes = 100.0 * np.exp(np.linspace(np.log(0.2), np.log(5.0), 31))
    expiries = [HOUR, DAY, 7 * DAY, 0.25, 1.0, 3.0]
    vols = [0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0]
    rates = [-0.01, 0.05]
    dividends = [0.0, 0.03]
    rows = np.array(list(itertools.product(strikes, expiries, vols, rates, dividends, [1, 0])))
    return {
        "spot": np.full(len(rows), 100.0),
        "strike": rows[:, 0],
        "t": rows[:, 1],
        "vol": rows[:, 2],
        "rate": rows[:, 3],
        "dividend": rows[:, 4],
        "is_call": rows[:, 5].astype(bool),
    }


@pytest.fixture(scope="module")
def stress():
    g = stress_grid()
    g["vega"] = bsm_greeks(**g).vega
    g["price"] = bsm_price(**{k: v for k, v in g.items() if k != "vega"})
    args = {k: g[k] for k in ("price", "spot", "strike", "t", "rate", "dividend", "is_call")}
    g["iv"] = implied_vol(**args)
    g["time_value"] = time_value(**args)
    return g


def test_implied_vol_round_trip_reprices_within_1e_8(stress):
    solved = np.isfinite(stress["iv"])
    repriced = bsm_price(
        stress["spot"],
        stress["strike"],
        stress["t"],
        stress["rate"],
        stress["dividend"],
        stress["iv"],
        stress["is_call"],
    )
    assert solved.sum() > 0.6 * solved.size
    assert np.abs(repriced - stress["price"])[solved].max() < 1e-8


def test_implied_vol_is_found_whenever_the_price_carries_time_value(stress):
    # Deep ITM/OTM and 1-hour options included: only a time value lost to rounding
    # (below 1e-12 of a 100 spot) may leave the volatility undetermined.
    resolvable = stress["time_value"] > 1e-12 * stress["spot"]
    assert np.isfinite(stress["iv"][resolvable]).all()


def test_implied_vol_recovers_the_volatility_where_price_depends_on_it(stress):
    sensitive = stress["vega"] > 1e-3
    assert sensitive.sum() > 0.3 * sensitive.size
    error = np.abs(stress["iv"] - stress["vol"])[sensitive]
    assert error.max() < 1e-8


@pytest.mark.parametrize("t", [HOUR, DAY])
def test_implied_vol_of_short_dated_options_round_trips(t):
    strike = np.linspace(95.0, 105.0, 201)
    vol = np.linspace(0.05, 3.0, 201)
    for is_call in (True, False):
        price = bsm_price(100.0, strike, t, 0.05, 0.01, vol, is_call)
        iv = implied_vol(price, 100.0, strike, t, 0.05, 0.01, is_call)
        priced = time_value(price, 100.0, strike, t, 0.05, 0.01, is_call) > 1e-6
        assert priced.sum() > 100
        assert_allclose(iv[priced], vol[priced], rtol=1e-8)


def test_deep_itm_and_otm_give_the_same_vol_as_their_parity_twins():
    strike = np.array([40.0, 60.0, 160.0, 250.0])
    args = (100.0, strike, 0.5, 0.04, 0.02)
    call = bsm_price(*args, 0.35, True)
    put = bsm_price(*args, 0.35, False)
    assert_allclose(implied_vol(call, *args, True), 0.35, rtol=1e-9)
    assert_allclose(implied_vol(put, *args, False), 0.35, rtol=1e-9)


def test_impossible_prices_have_no_implied_vol():
    spot, strike, t, rate, dividend = 100.0, 80.0, 0.5, 0.05, 0.0
    intrinsic_call = spot - strike * np.exp(-rate * t)
    call_cases = [
        intrinsic_call - 0.01,  # below intrinsic value
        intrinsic_call,  # exactly intrinsic: no positive volatility
        spot + 0.01,  # above the spot, the call's upper bound
        0.0,
        -1.0,
    ]
    assert np.isnan(implied_vol(call_cases, spot, strike, t, rate, dividend, True)).all()
    put_above_bound = strike * np.exp(-rate * t) + 0.01
    assert np.isnan(implied_vol(put_above_bound, spot, strike, t, rate, dividend, False))
    beyond_range = bsm_price(spot, 100.0, t, rate, dividend, 8.0, True)
    assert np.isnan(implied_vol(beyond_range, spot, 100.0, t, rate, dividend, True))
    assert implied_vol(beyond_range, spot, 100.0, t, rate, dividend, True, vol_max=10.0) == (
        pytest.approx(8.0, rel=1e-9)
    )
    assert np.isnan(implied_vol(5.0, spot, 100.0, [0.0, -0.1], rate, dividend, True)).all()


@pytest.mark.filterwarnings("error")
def test_chain_of_bad_quotes_gives_nan_without_exception_or_warning():
    good = float(bsm_price(100.0, 100.0, 0.25, 0.05, 0.01, 0.3, True))
    nan, inf = np.nan, np.inf
    price = [good, nan, 0.0, -1.0, good, good, good, good, good, good, inf, good, good]
    spot = [100.0, 100.0, 100.0, 100.0, nan, 0.0, -100.0, 100.0, 100.0, 100.0, 100.0, 100.0, inf]
    strike = [100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 0.0, -50.0, 100.0, 100.0, 100.0, 1.0]
    t = [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.0, 0.25, -0.25, 0.25]
    iv = implied_vol(price, spot, strike, t, 0.05, 0.01, True)
    assert iv[0] == pytest.approx(0.3, rel=1e-10)
    assert np.isnan(iv[1:]).all()
    with_bad_rates = implied_vol(good, 100.0, 100.0, 0.25, [nan, inf, 0.05], 0.01, True)
    assert np.isnan(with_bad_rates[:2]).all()
    assert with_bad_rates[2] == pytest.approx(0.3, rel=1e-10)
    assert implied_vol([], [], [], [], 0.05, 0.0, []).shape == (0,)


def test_implied_vol_rejects_a_meaningless_search_range():
    with pytest.raises(ValueError, match="vol_min"):
        implied_vol(5.0, 100.0, 100.0, 0.5, 0.05, 0.0, True, vol_min=1.0, vol_max=0.5)


# -- Greeks of a quote, from its mid ------------------------------------------------------


def test_greeks_from_mid_are_the_greeks_at_the_implied_volatility_of_the_mid():
    o = random_options(2_000, seed=21)
    price = bsm_price(**o)
    market = {k: v for k, v in o.items() if k != "vol"}
    vol, greeks = greeks_from_mid(price, **market)
    implied = implied_vol(price, **market)
    fits = np.isfinite(implied)
    assert fits.mean() > 0.9
    assert_array_equal(vol[fits], implied[fits])
    at_vol = bsm_greeks(**{**market, "vol": np.where(fits, vol, 0.2)})
    for name in ("price", "delta", "gamma", "vega", "theta"):
        assert_array_equal(getattr(greeks, name)[fits], getattr(at_vol, name)[fits])
    assert_allclose(greeks.price[fits], price[fits], rtol=1e-8, atol=1e-9)


def test_a_deep_in_the_money_mid_with_no_time_value_is_priced_as_stock():
    # 115 in the money, 11 days: the mid, rounded to the tick, sits a cent under the
    # discounted forward's value, where no volatility fits.
    spot, strike, t, rate, q = 590.0, 475.0, 11 * DAY, 0.04, 0.013
    forward_value = spot * np.exp(-q * t) - strike * np.exp(-rate * t)
    mid = np.array([forward_value - 0.01, spot - strike - 0.01, 300.0])
    is_call = np.array([True, True, True])
    strikes = np.array([strike, strike, 700.0])
    vol, greeks = greeks_from_mid(mid, spot, strikes, t, rate, q, is_call)
    assert np.isnan(implied_vol(mid[0], spot, strike, t, rate, q, True))
    assert vol[0] == vol[1] == DEFAULT_VOL_MIN
    assert greeks.delta[0] == pytest.approx(np.exp(-q * t)) and greeks.gamma[0] == 0.0
    # Out of the money at 300 with the spot at 590: no volatility up to 500% pays that.
    assert np.isnan(vol[2]) and np.isnan(greeks.delta[2])


def test_years_to_expiry_counts_to_each_expirys_new_york_close():
    now = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 New York
    expiry = np.array(["2026-01-09", "2026-01-05", "2026-01-02", "2026-01-09"], "datetime64[D]")
    years = years_to_expiry(expiry, now)
    # Friday's close is 4 days and 6 hours away; today's in 6 hours; last week's is past.
    assert_allclose(years * 365 * 24, [4 * 24 + 6, 6, 0, 4 * 24 + 6], rtol=1e-12)
    assert years_to_expiry(expiry[:0], now).shape == (0,)
