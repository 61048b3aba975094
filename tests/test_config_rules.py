"""``check-config`` vouches for ``run``: what run would crash on, what disarms a safety and
what could never trade are refused by both, in one line naming the key, with exit 2."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from v6.cli import main
from v6.config import TradingConfig
from v6.config_loader import ENV_OVERRIDES, load_config
from v6.config_rules import config_problems

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@pytest.fixture(autouse=True)
def _no_v6_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def restore_signals():
    """``v6 run`` in process leaves the stop signals ignored, as its process exits after."""
    saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "v6.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("v6: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


REFUSED = [
    # -- accepted by check-config before, then crashing or misbehaving in run --------------
    ("sim:\n  seed: -1\n", "'sim.seed'", "must be >= 0"),
    ("sim:\n  days: 1000000000\n", "'sim.days'", "at most 2464 from this start"),
    ("cycle:\n  interval_seconds: 9223372036854775808\n", "'cycle.interval_seconds'", "2**63"),
    ("cycle:\n  interval_seconds: 9223372036854775807\n", "'cycle.interval_seconds'", "<= 86400"),
    ("sim:\n  strikes_per_side: 10000000\n", "'sim.strikes_per_side'", "<= 500"),
    ("underlyings: [S/P]\nsim:\n  underlyings: {S/P: {spot: 100}}\n", "'underlyings[0]'", "'S/P'"),
    ("underlyings: ['']\n", "'underlyings[0]'", "'' is not a symbol"),
    ("underlyings: [spy]\n", "'underlyings[0]'", "did you mean 'SPY'?"),
    (
        "underlyings: [SPY]\nsim:\n  underlyings: {SPY: {spot: 590}, 'S P': {spot: 100}}\n",
        "sim.underlyings['S P']",
        "not a symbol",
    ),
    ("sim:\n  start: 2036-01-05\n", "'sim.start'", "2000-01-01 to 2035-12-31"),
    ("sim:\n  start: 1999-06-01\n", "'sim.start'", "outside 2000-01-01"),
    ("sim:\n  start: 2035-12-01\n", "'sim.start'", "lists expiries sim.max_dte (60) days later"),
    ("cycle:\n  interval_seconds: 1\nsim:\n  days: 2000\n", "'sim.days'", "cycles"),
    ("sim:\n  strikes_per_side: 500\n  max_dte: 1100\n", "'sim.strikes_per_side'", "options"),
    (
        "sim:\n  strikes_per_side: 500\n  max_dte: 45\nstore:\n  flush_every_cycles: 100\n",
        "'store.flush_every_cycles'",
        "rows in memory",
    ),
    ("sim:\n  speed: 0.0000001\n", "'sim.speed'", "must be 0"),
    ("sim:\n  broker:\n    latency_seconds: 1800\n", "latency_seconds'", "cancelled"),
    ("sim:\n  bad_data:\n    nan_greeks: 0.6\n    zero_iv: 0.6\n", "'sim.bad_data'", "at most 1"),
    ("sim:\n  bad_data:\n    stale_underlying: 1.5\n", "stale_underlying'", "<= 1"),
    ("breakers:\n  rejection_window_minutes: 1.0e+300\n", "rejection_window_minutes", "a week"),
    ("slots:\n  default:\n    cooldown_minutes_after_stop: 1.0e+300\n", "cooldown", "a year"),
    ("sim:\n  broker:\n    latency_seconds: 1.0e+300\n", "'sim.broker.latency_seconds'", "hour"),
    ("store:\n  retention_hours: 9223372036854775807\n", "'store.retention_hours'", "a year"),
    ("sim:\n  underlyings:\n    SPY: {spot: 590, vol: 50.0}\n", "vol'", "<= 5"),
    (
        "underlyings: [SPY]\nsim:\n  underlyings:\n    SPY: {spot: 10, strike_step: 5}\n",
        "strike_step'",
        "fifth",
    ),
    ("sim:\n  underlyings:\n    SPY: {spot: 1.0e+300}\n", "spot'", "<= 1000000"),
    ("ib:\n  client_id: 4294967296\n", "'ib.client_id'", "32-bit"),
    ("ib:\n  reconnect_backoff_seconds: []\n", "'ib.reconnect_backoff_seconds'", "at least one"),
    ("ib:\n  target_dte: 90\n", "'ib.target_dte'", "beyond ib.max_dte 60"),
    (f"store:\n  path: data/{'x' * 300}\n", "'store.path'", "at most 255 bytes"),
    # -- accepted silently though they disarm a safety or can never trade ------------------
    (
        "breakers:\n  close_positions: [daily_losses]\n",
        "'breakers.close_positions[0]'",
        "'daily_losses' is not a circuit breaker; did you mean 'daily_loss'?",
    ),
    (
        "breakers:\n  close_positions: [daily_loss]\n"
        "plugins:\n  exit_rules: {stop_loss: {}, hold: {}}\n",
        "'breakers.close_positions'",
        "circuit_breaker exit rule",
    ),
    (
        "slots:\n  default:\n    stop_out_rules: [stop_los]\n",
        "'slots.default.stop_out_rules[0]'",
        "did you mean 'stop_loss'?",
    ),
    (
        "slots:\n  strategies:\n    iron_condor:\n"
        "      stop_out_rules: [stop_loss, trailng_stop]\n",
        "'slots.strategies.iron_condor.stop_out_rules[1]'",
        "did you mean 'trailing_stop'?",
    ),
    (
        "slots:\n  strategies:\n    iron_condr: {}\n",
        "'slots.strategies.iron_condr'",
        "did you mean 'iron_condor'?",
    ),
    ("risk:\n  spot_moves: []\n", "'risk.spot_moves'", "disarms limits.max_stress_loss"),
    ("risk:\n  vol_shifts: []\n", "'risk.vol_shifts'", "disarms limits.max_stress_loss"),
    ("risk:\n  spot_moves: [-5.0, 0.1]\n", "'risk.spot_moves[0]'", "must be > -1"),
    ("risk:\n  vol_shifts: [-1.0, 0.1]\n", "'risk.vol_shifts[0]'", "must be >= -0.5"),
    ("risk:\n  spot_moves: [-0.2, -0.1]\n", "'risk.spot_moves'", "a move down and a move up"),
    ("risk:\n  vol_shifts: [-0.1]\n", "'risk.vol_shifts'", "needs a shift >= 0"),
    ("risk:\n  betas: {QQQQ: 1.2}\n", "'risk.betas.QQQQ'", "did you mean 'QQQ'?"),
    ("risk:\n  dividend_yields: {IWN: 0.01}\n", "'risk.dividend_yields.IWN'", "'IWM'"),
    ("risk:\n  beta_reference: SPYY\n", "'risk.beta_reference'", "did you mean 'SPY'?"),
    (
        "limits:\n  max_loss_per_trade: 30000\n",
        "'limits.max_loss_per_trade'",
        "above limits.max_loss_per_underlying 8000, so it could never bind",
    ),
    (
        "limits:\n  max_total_max_loss: 5000\n",
        "'limits.max_loss_per_underlying'",
        "above limits.max_total_max_loss 5000",
    ),
    (
        "limits:\n  max_positions_per_underlying: 20\n",
        "'limits.max_positions_per_underlying'",
        "above limits.max_open_positions 12",
    ),
    (
        "limits:\n  min_buying_power_reserve: 200000\n",
        "'limits.min_buying_power_reserve'",
        "not below sim.initial_cash 100000",
    ),
    ("breakers:\n  max_daily_loss: 100000\n", "'breakers.max_daily_loss'", "could never trip"),
    ("breakers:\n  max_consecutive_losses: 1000000\n", "max_consecutive_losses'", "<= 1000"),
    (
        "sim:\n  max_dte: 5\n",
        "'plugins.strategies.iron_condor.settings.min_dte'",
        "7 is beyond sim.max_dte 5",
    ),
    (
        "plugins:\n  strategies:\n    bull_put_spread: {settings: {min_dte: 90, max_dte: 120}}\n",
        "'plugins.strategies.bull_put_spread.settings.min_dte'",
        "bull_put_spread could never trade",
    ),
    ("plugins:\n  strategies: {}\n", "'plugins.strategies'", "could never open a position"),
    ("execution:\n  tick_size: 100\n", "'execution.tick_size'", "one of 0.01, 0.05, 0.1, got 100"),
    ("execution:\n  tick_size: 0.015\n", "'execution.tick_size'", "one of 0.01, 0.05, 0.1"),
    ("sim:\n  broker:\n    fill_threshold_half_spreads: 2\n", "fill_threshold", "natural"),
    ("cycle:\n  max_quote_age_seconds: 0.001\n", "max_quote_age_seconds'", "a second"),
    ("store:\n  flush_every_cycles: 1000000000\n", "'store.flush_every_cycles'", "<= 1000"),
]


@pytest.mark.parametrize(("text", "key", "fragment"), REFUSED)
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_check_config_and_run_refuse_the_same_config_in_one_line(
    tmp_path, capsys, restore_signals, command, text, key, fragment
):
    path = write(tmp_path, text)
    store = ["--store", str(tmp_path / "s")] if command == "run" else []
    status = main([command, "--config", path, *store])
    captured = capsys.readouterr()
    assert_one_line_error(status, captured.err, path, key, fragment)
    assert captured.out == ""
    assert not (tmp_path / "s").exists()  # run stopped before touching a store


def test_negative_seed_on_the_command_line_is_a_config_error(tmp_path, capsys, restore_signals):
    status = main(["run", "--seed", "-5", "--store", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert_one_line_error(status, err, "command line --seed", "'sim.seed'", "got -5")


def test_the_shipped_configs_pass_every_rule():
    repo = Path(__file__).resolve().parents[1]
    for name in ("sim.yaml", "paper.yaml"):
        assert main(["check-config", "--config", str(repo / "config" / name)]) == 0
    assert config_problems(TradingConfig()) is None
    assert config_problems(load_config(None)) is None


# -- accepted configs at the edges of every range run ---------------------------------------

EDGES = [
    # the calendar's first and last simulated days
    "sim:\n  start: 2000-01-01\n",
    "sim:\n  start: 2035-10-22\n  days: 2\n",
    # the largest seed and the widest listings that fit a cycle
    "sim:\n  seed: 9223372036854775807\n",
    "sim:\n  strikes_per_side: 500\n  max_dte: 30\n",
    "sim:\n  max_dte: 1100\n  strikes_per_side: 10\nunderlyings: [SPY]\n",
    # one-cent strikes on a two-dollar underlying, a class-B share, extreme volatility
    "underlyings: [BRK.B]\nrisk:\n  beta_reference: BRK.B\n"
    "sim:\n  underlyings:\n    BRK.B: {spot: 2.0, strike_step: 0.01, vol: 5.0, beta: -5.0}\n",
    "sim:\n  underlyings:\n    SPY: {spot: 1000000, strike_step: 1000, vol: 0.01}\n"
    "underlyings: [SPY]\n",
    # the stress grid at its bounds, a day-long cycle, nickel ticks
    "risk:\n  spot_moves: [-0.999, 10.0]\n  vol_shifts: [-0.5, 2.0]\n",
    "cycle:\n  interval_seconds: 86400\nexecution:\n  tick_size: 0.05\n  price_step: 10\n",
    "breakers:\n  close_positions: [daily_loss, stale_data]\n  rejection_window_minutes: 10080\n",
]


@pytest.mark.parametrize("text", EDGES)
def test_a_config_at_the_edge_of_its_ranges_is_accepted_and_runs_two_cycles(
    tmp_path, capsys, restore_signals, text
):
    path = write(tmp_path, text)
    assert main(["check-config", "--config", path]) == 0, capsys.readouterr().err
    store = str(tmp_path / "store")
    status = main(["run", "--config", path, "--cycles", "2", "--store", store])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Traceback" not in captured.err
    assert ": 2 cycles" in captured.out
