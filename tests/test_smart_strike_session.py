"""SmartStrikeSelector end to end: the same simulated market and seed, traded once with
plain delta targeting and once with the skew-aware selector, under a steep and a flat
smile. The strikes actually sent to the broker show the difference."""

from __future__ import annotations

import json

import attrs
import pytest
from sessions import run, sim_config, table

from v6.config import PluginBlock

pytestmark = pytest.mark.slow


def first_shorts(tmp_path, selector: str, skew_slope: float) -> dict[str, float]:
    """Short put and short call strikes of the first SPY iron condor sent."""
    cfg = sim_config(tmp_path / f"{selector}-{skew_slope}", days=1)
    underlyings = {
        k: attrs.evolve(v, skew_slope=skew_slope) for k, v in cfg.sim.underlyings.items()
    }
    cfg = attrs.evolve(
        cfg,
        sim=attrs.evolve(cfg.sim, underlyings=underlyings),
        plugins=attrs.evolve(
            cfg.plugins,
            strategies={"iron_condor": PluginBlock(settings={"min_dte": 20, "max_dte": 30})},
            strike_selector={selector: PluginBlock()},
        ),
    )
    run(cfg, cycles=1)
    orders = table(cfg, "orders")
    sent = orders[(orders.underlying == "SPY") & (orders.intent == "open")].iloc[0]
    legs = json.loads(sent.legs)
    return {leg["right"]: leg["strike"] for leg in legs if leg["ratio"] < 0}


def test_steep_put_skew_sells_puts_farther_out_and_a_flat_smile_does_not(tmp_path):
    steep_plain = first_shorts(tmp_path, "delta_target", 0.45)
    steep_smart = first_shorts(tmp_path, "smart_strike", 0.45)
    assert steep_smart["P"] < steep_plain["P"]  # rich puts: sold farther out
    assert steep_smart["C"] == steep_plain["C"]

    flat_plain = first_shorts(tmp_path, "delta_target", 0.0)
    flat_smart = first_shorts(tmp_path, "smart_strike", 0.0)
    assert flat_smart["P"] == flat_plain["P"]  # puts are not rich on a flat smile
    # Against the neutral index skew a flat smile reads call-rich: calls go farther out.
    assert flat_smart["C"] > flat_plain["C"]
