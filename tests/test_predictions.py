"""Every opened position stores what its strategy predicted, and its actuals at close; the
report's figures are the table's, recomputed here with plain pandas.

One two-week sim session on SPY and QQQ (flattened at the end) serves the whole module:
the three built-in strategies (V6's default model), the example iron fly package (its
own model, through ``v6_predict_position``) and a strategy whose prediction hook returns
garbage (falls back to the default, with a plugin error).
"""

from __future__ import annotations

import json
import math
import subprocess

import attrs
import numpy as np
import pandas as pd
import pytest
from sessions import latest, run, sim_config, table
from v6_plugins.strategies import bull_put_spread
from v6_process import V6

from v6.config import PluginBlock
from v6.domain.plugins import PluginInfo, PluginKind
from v6.hookspecs import hookimpl
from v6.predictions import report
from v6.store.delta_store import DeltaStore

pytestmark = pytest.mark.slow

SHORT_DATED = {"min_dte": 3, "max_dte": 12}
BUILT_IN = ("iron_condor", "bull_put_spread", "bear_call_spread")


class GarbagePredictor:
    """Proposes bull put spreads under its own name; its prediction is not a Prediction."""

    name = "garbage_predictor"

    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name=self.name, kind=PluginKind.STRATEGY, summary="bad predictions")

    @hookimpl
    def v6_propose_entries(self, market, regimes, positions, underlyings):
        settings = bull_put_spread.Settings(**SHORT_DATED)
        proposed = bull_put_spread.v6_propose_entries(
            market, regimes, positions, underlyings, settings
        )
        return [attrs.evolve(c, strategy=self.name, structure="put_spread") for c in proposed]

    @hookimpl
    def v6_predict_position(self, inputs):
        return {"probability_of_profit": 2.0}  # not a Prediction, and out of range


def session_config(path):
    cfg = attrs.evolve(sim_config(path, days=10, flatten_at_end=True), underlyings=["SPY", "QQQ"])
    strategies = {GarbagePredictor.name: PluginBlock()}
    strategies["iron_fly"] = PluginBlock(settings={**SHORT_DATED, "min_credit": 0.5})
    strategies.update({name: PluginBlock(settings=dict(SHORT_DATED)) for name in BUILT_IN})
    # Room for five strategies, and no losing streak stopping entries halfway.
    limits = attrs.evolve(
        cfg.limits, max_open_positions=30, max_entries_per_cycle=5, max_positions_per_underlying=10
    )
    breakers = attrs.evolve(cfg.breakers, max_consecutive_losses=1000)
    return attrs.evolve(
        cfg,
        limits=limits,
        breakers=breakers,
        plugins=attrs.evolve(cfg.plugins, strategies=strategies),
    )


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    cfg = session_config(tmp_path_factory.mktemp("predictions") / "data")
    run(cfg, extra_plugins=[(GarbagePredictor.name, GarbagePredictor())])
    return cfg


@pytest.fixture(scope="module")
def predictions(session):
    return latest(table(session, "predictions"), "prediction_id")


@pytest.fixture(scope="module")
def graded(predictions):
    return predictions[predictions["status"] == "closed"]


def v6_report(cfg, *args):
    result = subprocess.run(
        [V6, "predictions", "report", "--store", cfg.store.path, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result


def report_json(cfg, *args):
    result = v6_report(cfg, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# -- what is stored ---------------------------------------------------------------------


def test_every_opened_position_has_one_prediction_and_its_actuals(session, predictions):
    positions = latest(table(session, "positions"), "position_id")
    opened = positions[positions["exit_rule"] != "unfilled"]
    traded = set(opened["strategy"])
    assert traded >= {*BUILT_IN, "iron_fly", GarbagePredictor.name}  # every strategy traded
    assert set(predictions["position_id"]) == set(positions["position_id"])
    assert predictions["prediction_id"].is_unique
    # Flattened at the end: nothing pending, and only never-filled entries are void.
    by_position = predictions.set_index("position_id")
    assert set(by_position.loc[opened["position_id"], "status"]) == {"closed"}
    never_filled = positions.loc[positions["exit_rule"] == "unfilled", "position_id"]
    assert set(by_position.loc[never_filled, "status"]) <= {"void"}
    actual = by_position.loc[opened["position_id"]]
    expected = opened.set_index("position_id")
    pd.testing.assert_series_equal(
        actual["realized_pnl"], expected["realized_pnl"], check_names=False
    )
    assert (actual["exit_rule"] == expected["exit_rule"]).all()
    assert (actual["profitable"] == (expected["realized_pnl"] > 0)).all()
    assert (actual["regime"] == expected["entry_regime"].fillna("")).all()
    held = (
        pd.to_datetime(expected["closed_at"], utc=True) - pd.to_datetime(actual["predicted_at"])
    ).dt.total_seconds() / 86400
    np.testing.assert_allclose(actual["days_held"], held)
    assert {"flatten", "take_profit"} <= set(actual["exit_rule"])


def test_predictions_store_their_inputs_and_sane_numbers(graded):
    assert graded["probability_of_profit"].between(0, 1).all()
    assert np.isfinite(graded["expected_pnl"]).all()
    assert (graded["atm_iv"] > 0.05).all() and (graded["atm_iv"] < 1.5).all()
    assert (graded["put_call_iv_ratio"] > 1.0).all()  # the sim's skew: puts richer
    assert (graded["dte"].between(3, 12)).all()
    assert (graded["credit"] > 0).all()  # every strategy here sells premium
    assert (graded["max_loss"] > 0).all() and (graded["max_profit"] > 0).all()
    deltas = graded["short_deltas"].map(json.loads)
    assert deltas.map(len).isin([1, 2]).all()
    assert all(abs(d) < 0.6 for ds in deltas for d in ds)
    default = graded[graded["model"] == "v6_default"]
    # The holding period comes from the exit targets: never past the expiry exit.
    assert (default["expected_days"] <= default["dte"] - 1 + 1e-9).all()
    assert (default["expected_move"] > 0).all()
    assert json.loads(default["model_inputs"].iloc[0]).keys() >= {"sigma", "commissions"}


def test_a_strategy_with_its_own_model_has_its_prediction_stored_by_name(graded):
    models = graded.groupby("strategy")["model"].agg(set).to_dict()
    assert models["iron_fly"] == {"iron_fly_pin_v1"}
    for name in BUILT_IN:
        assert models[name] == {"v6_default"}
    fly = graded[graded["strategy"] == "iron_fly"]
    inputs = fly["model_inputs"].map(json.loads)
    assert inputs.map(lambda i: "v6_default_expected_pnl" in i).all()
    assert (fly["expected_days"] == fly["dte"]).all()  # held to expiry, its own view


def test_a_garbage_prediction_falls_back_to_the_default_with_a_plugin_error(session, graded):
    garbage = graded[graded["strategy"] == GarbagePredictor.name]
    assert not garbage.empty
    assert set(garbage["model"]) == {"v6_default"}
    alerts = table(session, "alerts")
    errors = alerts[
        (alerts["code"] == "plugin_error") & (alerts["source"] == GarbagePredictor.name)
    ]
    assert not errors.empty
    assert errors["message"].str.contains("v6_predict_position").all()
    assert errors["message"].str.contains("expected a Prediction").any()


# -- the report equals pandas on the table ------------------------------------------------


def pandas_groups(frame, by):
    error = frame["expected_pnl"] - frame["realized_pnl"]
    won = frame["profitable"].astype(float)
    work = frame.assign(
        e=error, ae=error.abs(), se=error**2, b=(frame["probability_of_profit"] - won) ** 2
    )
    return work.groupby(list(by)).agg(
        count=("e", "size"),
        mae=("ae", "mean"),
        mse=("se", "mean"),
        bias=("e", "mean"),
        brier=("b", "mean"),
        win_rate=("profitable", "mean"),
    )


def test_report_by_strategy_and_regime_equals_pandas(session, graded):
    rows = report_json(session)
    expected = pandas_groups(graded, ("strategy", "regime"))
    assert len(rows) == len(expected)
    for row in rows:
        want = expected.loc[(row["strategy"], row["regime"])]
        assert row["count"] == want["count"]
        for metric in ("mae", "mse", "bias", "brier", "win_rate"):
            assert row[metric] == pytest.approx(want[metric], rel=1e-9, abs=1e-9), metric
        assert row["rmse"] == pytest.approx(math.sqrt(want["mse"]))
        assert row["too_small"] == bool(want["count"] < report.MIN_COUNT)
    assert sum(r["count"] for r in rows) == len(graded)


def test_report_by_model_since_a_date_equals_pandas(session, graded):
    since = pd.Timestamp("2026-01-12", tz="UTC")
    later = graded[pd.to_datetime(graded["predicted_at"], utc=True) >= since]
    assert 0 < len(later) < len(graded)
    rows = report_json(session, "--by", "model", "--since", "2026-01-12", "--min-count", "5")
    expected = pandas_groups(later, ("model",))
    assert {r["model"]: r["count"] for r in rows} == expected["count"].to_dict()
    for row in rows:
        assert row["strategy"] is None and row["regime"] is None  # not grouped by them
        assert row["mse"] == pytest.approx(expected.loc[row["model"], "mse"])
        assert row["brier"] == pytest.approx(expected.loc[row["model"], "brier"])
        assert row["too_small"] is (row["count"] < 5)


def test_calibration_buckets_equal_pandas(session, graded):
    rows = report_json(session, "--calibration")
    bucket = np.minimum((graded["probability_of_profit"] * 10).astype(int), 9)
    expected = graded.groupby(bucket).agg(
        count=("profitable", "size"),
        win_rate=("profitable", "mean"),
        mean_predicted=("probability_of_profit", "mean"),
    )
    assert [r["count"] for r in rows] == expected["count"].tolist()
    for row, (i, want) in zip(rows, expected.iterrows(), strict=True):
        assert row["bucket_low"] == pytest.approx(i / 10)
        assert row["win_rate"] == pytest.approx(want["win_rate"])
        assert row["mean_predicted"] == pytest.approx(want["mean_predicted"])


def test_regime_confusion_and_errors_by_true_and_detected_regime_equal_pandas(session, graded):
    truth = table(session, "sim_truth")
    readings = table(session, "regimes")
    joined = readings.merge(truth, on=["run_id", "time"], suffixes=("", "_true"))
    expected = joined.groupby(["regime_true", "regime"]).size()
    cells = report_json(session, "--confusion")
    assert {(c["true_regime"], c["detected_regime"]): c["count"] for c in cells} == (
        expected.to_dict()
    )
    assert sum(c["count"] for c in cells) == len(readings)  # every reading has its truth
    # Errors split by the true regime at entry (from sim_truth at the prediction's time).
    at_entry = truth.set_index("time")["regime"]
    true_regime = pd.to_datetime(graded["predicted_at"], utc=True).map(at_entry)
    assert true_regime.notna().all()
    expected_errors = pandas_groups(
        graded.assign(true_regime=true_regime.values), ("true_regime", "regime")
    )
    rows = report_json(session, "--regime-errors")
    assert {(r["true_regime"], r["regime"]): r["count"] for r in rows} == (
        expected_errors["count"].to_dict()
    )
    for row in rows:
        want = expected_errors.loc[(row["true_regime"], row["regime"])]
        assert row["mae"] == pytest.approx(want["mae"])
        assert row["bias"] == pytest.approx(want["bias"])


def test_text_report_shows_every_part_and_flags_small_groups(session):
    result = v6_report(session)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for part in (
        "MAE $",
        "Brier",
        "Calibration",
        "true (simulator) vs detected regime",
        "prediction errors by true and detected regime",
    ):
        assert part in out

    def flagged(text):
        return [line for line in text.splitlines() if line.endswith("TOO FEW")]

    assert flagged(out)  # some strategy/regime pairs are thin in two weeks
    assert not flagged(v6_report(session, "--min-count", "1").stdout)


# -- bad usage, empty stores ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "strategy,colour"], "--by: unknown column 'colour'"),
        (["--since", "2026-02-30"], "invalid date '2026-02-30'"),
        (["--min-count", "0"], "invalid count '0'"),
        (["--json", "--calibration", "--confusion"], "not allowed with argument"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(session, args, message):
    result = v6_report(session, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_a_missing_store_is_exit_2(tmp_path):
    result = subprocess.run(
        [V6, "predictions", "report", "--store", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("v6: store ") and "does not exist" in result.stderr


def test_a_store_without_predictions_says_so(tmp_path):
    store = DeltaStore(tmp_path / "store")
    store.append(
        "runs",
        [
            {
                "time": pd.Timestamp("2026-01-05", tz="UTC"),
                "run_id": "r",
                "mode": "sim",
                "config": "",
                "seed": 1,
                "event": "start",
                "message": "",
            }
        ],
    )
    store.close()
    cfg = attrs.evolve(sim_config(tmp_path / "store"))
    text = v6_report(cfg)
    assert text.returncode == 0 and "no predictions stored" in text.stdout
    assert report_json(cfg) == []
    assert report_json(cfg, "--calibration") == []


def test_the_report_process_exits_0_every_time(session):
    # Readers of Delta tables have aborted at exit (status 134, ARCHITECTURE.md): ask often.
    statuses = [v6_report(session).returncode for _ in range(5)]
    assert statuses == [0] * 5
