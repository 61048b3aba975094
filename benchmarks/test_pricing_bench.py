"""Pricing speed on a realistic 10,000-option chain (figures in docs/PERFORMANCE.md).

Run with `make bench`. Nothing here asserts on time: the benchmarks report, the accuracy
checks (outside the timed part) make sure the fast path is also the right one.
"""

from __future__ import annotations

import numpy as np

from v6.pricing import bsm_greeks, bsm_price, implied_vol


def _record_per_option(benchmark, n: int) -> None:
    benchmark.extra_info["options"] = n
    if benchmark.stats is None:  # run with --benchmark-disable: a plain functional check
        return
    stats = benchmark.stats.stats
    benchmark.extra_info["median_ns_per_option"] = round(stats.median / n * 1e9, 1)


def test_bsm_price_and_all_greeks_10k(benchmark, chain):
    """Target: <= 1.5 ms per 10k options (150 ns per option) for price + every Greek."""
    greeks = benchmark(
        bsm_greeks,
        chain.spot,
        chain.strike,
        chain.t,
        chain.rate,
        chain.dividend,
        chain.vol,
        chain.is_call,
    )
    _record_per_option(benchmark, len(chain))
    np.testing.assert_allclose(greeks.price, chain.price, rtol=1e-15, atol=0)
    for values in (greeks.delta, greeks.gamma, greeks.vega, greeks.theta, greeks.rho):
        assert np.isfinite(values).all()


def test_implied_vol_10k(benchmark, chain):
    """Target: <= 15 ms per 10k options (1.5 us per option) to tol 1e-10."""
    iv = benchmark(
        implied_vol,
        chain.price,
        chain.spot,
        chain.strike,
        chain.t,
        chain.rate,
        chain.dividend,
        chain.is_call,
    )
    _record_per_option(benchmark, len(chain))

    # Only a time value lost to float rounding may leave the volatility undetermined.
    forward_value = chain.spot * np.exp(-chain.dividend * chain.t) - chain.strike * np.exp(
        -chain.rate * chain.t
    )
    intrinsic = np.maximum(np.where(chain.is_call, forward_value, -forward_value), 0.0)
    resolvable = chain.price - intrinsic > 1e-12 * chain.spot
    assert np.isfinite(iv[resolvable]).all()
    solved = np.isfinite(iv)
    benchmark.extra_info["solved"] = int(solved.sum())
    repriced = bsm_price(
        chain.spot, chain.strike, chain.t, chain.rate, chain.dividend, iv, chain.is_call
    )
    assert np.abs(repriced - chain.price)[solved].max() < 1e-8
