"""``v6 dashboard`` without a browser: the health evaluation (``GET /health`` and the Health
page share it), the login off loopback, the empty store, exit status, and the numbers
each page computes from the tables. The pages in a real browser: test_dashboard_browser.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dashboard_process import Dashboard, free_port
from sessions import sim_config

from dash_app.data import StoreReader
from dash_app.pages import (
    alerts_data,
    futures_data,
    health_data,
    overview_data,
    position_data,
    predictions_data,
)
from dash_app.views import (
    account,
    alert_kind,
    halt_state,
    latest_run,
    portfolio_greeks,
    position_rows,
)
from v6.alert_acks import acknowledge, alert_id, alert_ids
from v6.cli import main
from v6.config import DashboardSettings
from v6.health import evaluate, heartbeat_limit
from v6.risk.manual_halt import HALT, issue
from v6.store.delta_store import DeltaStore
from v6.testing.sessions import run as run_session
from v6.testing.sessions import sim_engine

SETTINGS = DashboardSettings()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A store one finished sim session wrote (26 cycles, order rejections for alerts)."""
    root = tmp_path_factory.mktemp("finished") / "store"
    cfg = sim_config(root, days=1)
    import attrs

    broker = attrs.evolve(cfg.sim.broker, reject_probability=0.5)
    cfg = attrs.evolve(cfg, sim=attrs.evolve(cfg.sim, broker=broker))
    run_session(cfg, cycles=20)
    return root


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """A store whose engine is still running: a start record, cycles, no stop record."""
    root = tmp_path_factory.mktemp("running") / "store"
    sim = sim_engine(sim_config(root, days=1))
    sim.engine.recorder.run_event(datetime.now(UTC), "start", "sim", "mode: sim\n", 0)
    sim.run(3)
    sim.engine.recorder.flush()
    yield sim
    sim.close()


# -- health ----------------------------------------------------------------------------


def test_a_running_engine_with_a_fresh_heartbeat_is_healthy(running):
    health = evaluate(DeltaStore(running.config.store.path), SETTINGS)
    assert health.healthy, health.to_json()
    body = health.to_json()
    assert body["status"] == "ok" and health.http_status == 200
    assert body["engine"]["running"] is True and body["engine"]["cycle"] == 3
    assert {c["name"] for c in body["checks"]} == {
        "heartbeat",
        "engine",
        "broker",
        "market_data",
        "plugins",
        "store",
        "disk",
    }


def test_a_stale_heartbeat_a_stopped_engine_and_an_empty_store_are_unhealthy(
    running, finished, tmp_path
):
    store = DeltaStore(running.config.store.path)
    fresh = evaluate(store, SETTINGS)
    later = fresh.last_heartbeat + timedelta(seconds=heartbeat_limit(0.0, SETTINGS) + 1)
    stale = evaluate(store, SETTINGS, now=later)
    assert stale.http_status == 503
    assert [c.name for c in stale.checks if not c.ok] == ["heartbeat"]

    stopped = evaluate(DeltaStore(finished), SETTINGS)
    engine = next(c for c in stopped.checks if c.name == "engine")
    assert not engine.ok and "stop (20 cycles)" in engine.detail

    empty = evaluate(DeltaStore(tmp_path / "nothing"), SETTINGS)
    assert empty.http_status == 503
    assert "no heartbeat" in empty.checks[0].detail


def test_a_disconnected_broker_is_unhealthy_at_the_next_cycle(tmp_path):
    sim = sim_engine(sim_config(tmp_path / "store", days=1))
    sim.engine.recorder.run_event(datetime.now(UTC), "start", "sim", "mode: sim\n", 0)
    sim.run(1)
    sim.engine.broker.faults.disconnect()
    sim.run(1)
    sim.engine.recorder.flush()
    health = evaluate(DeltaStore(sim.config.store.path), SETTINGS)
    assert [c.name for c in health.checks if not c.ok] == ["broker"]
    assert "broker_disconnect" in health.breakers_tripped
    sim.close()


# -- the server process ----------------------------------------------------------------


# Every test that starts `v6 dashboard` also checks that it exits 0 on SIGTERM: a reader of
# Delta tables must never abort at exit (ARCHITECTURE: the pyarrow scanner-thread race).


def test_get_health_answers_json_200_when_healthy_and_503_when_not(running, finished):
    healthy = Dashboard(running.config.store.path)
    stopped = Dashboard(finished)
    try:
        status, body = healthy.health()
        assert status == 200 and body["status"] == "ok"
        assert body["engine"]["run_id"] == "test-run"
        status, body = stopped.health()
        assert status == 503 and body["status"] == "unhealthy"
        assert set(body) == {
            "status",
            "level",
            "checked_at",
            "store",
            "engine",
            "breakers_tripped",
            "checks",
        }
        # The page and the endpoint share one evaluation: they agree.
        mine = evaluate(DeltaStore(finished), SETTINGS).to_json()
        assert [c["ok"] for c in body["checks"]] == [c["ok"] for c in mine["checks"]]
    finally:
        assert healthy.stop()[0] == 0
        assert stopped.stop()[0] == 0


def test_credentials_in_the_environment_make_every_request_need_a_login(finished):
    login = {"V6_DASHBOARD_USER": "ops", "V6_DASHBOARD_PASSWORD": "s3cret"}
    dashboard = Dashboard(finished, env=login)
    try:
        assert "login required" in dashboard.banner
        assert dashboard.get("/")[0] == 401
        assert dashboard.get("/health")[0] == 401
        assert dashboard.get("/_dash-layout")[0] == 401
        assert dashboard.get("/", auth=("ops", "wrong"))[0] == 401
        assert dashboard.get("/", auth=("ops", "s3cret"))[0] == 200
        assert dashboard.health(auth=("ops", "s3cret"))[0] == 503
    finally:
        assert dashboard.stop()[0] == 0


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--host", "0.0.0.0"], {}, "is not this machine: set V6_DASHBOARD_USER"),
        (["--host", "0.0.0.0"], {"V6_DASHBOARD_USER": "ops"}, "V6_DASHBOARD_PASSWORD is not set"),
        (["--port", "70000"], {}, "dashboard.port"),
        (["--host", "a b"], {}, "not a host name"),
    ],
)
def test_a_dashboard_that_cannot_start_safely_says_why_in_one_line(
    tmp_path, monkeypatch, capsys, args, env, expected
):
    for name in ("V6_DASHBOARD_USER", "V6_DASHBOARD_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status = main(["dashboard", "--store", str(tmp_path), "--port", str(free_port()), *args])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and expected in err
    assert "Traceback" not in err


def test_a_store_path_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "data"
    path.write_text("not a store")
    assert main(["dashboard", "--store", str(path), "--port", str(free_port())]) == 2
    assert "is a file" in capsys.readouterr().err


# -- what the pages compute --------------------------------------------------------------


def test_every_page_has_an_empty_state_on_an_empty_or_missing_store(tmp_path):
    for root in (tmp_path / "missing", tmp_path):
        reader = StoreReader(root)
        run = latest_run(reader)
        assert run is None
        overview = overview_data(reader, run, SETTINGS)
        assert "No run has written" in str(overview["empty"])
        assert overview["numbers"]["net_liquidation"] is None
        assert position_rows(reader, run).empty
        assert "No position" in str(position_data(reader, run, "nope")["summary"])
        assert alerts_data(reader, run).empty
        health = health_data(reader, run, SETTINGS)
        assert health["health"].http_status == 503 and not health["percentiles"]
        assert halt_state(reader, run)["text"] == "entries allowed"


def test_a_partial_store_with_a_run_but_no_cycle_yet_shows_an_empty_state(tmp_path):
    store = DeltaStore(tmp_path)
    store.append(
        "runs",
        [
            {
                "time": datetime.now(UTC),
                "run_id": "r1",
                "mode": "sim",
                "config": "mode: sim\n",
                "seed": 0,
                "event": "start",
                "message": "",
            }
        ],
    )
    store.flush()
    reader = StoreReader(tmp_path)
    assert latest_run(reader) == "r1"
    assert "not finished a cycle" in str(overview_data(reader, "r1", SETTINGS)["empty"])
    assert portfolio_greeks(reader, "r1")["value"].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_the_overview_numbers_are_the_last_account_snapshot_and_the_open_positions(finished):
    reader = StoreReader(finished)
    run = latest_run(reader)
    store = DeltaStore(finished)
    snapshots = store.read("account_snapshots").sort_values(["time", "cycle"])
    numbers = overview_data(reader, run, SETTINGS)["numbers"]
    assert numbers["net_liquidation"] == snapshots["net_liquidation"].iloc[-1]
    first = snapshots["net_liquidation"].iloc[0]
    assert numbers["pnl_total"] == pytest.approx(snapshots["net_liquidation"].iloc[-1] - first)
    positions = (
        store.read("positions").sort_values("seq").drop_duplicates("position_id", keep="last")
    )
    live = positions[positions["status"].isin(["opening", "open", "closing"])]
    assert numbers["open_positions"] == len(live) == len(position_rows(reader, run))
    acct = account(reader, run)
    assert acct["pnl_today"].iloc[-1] == pytest.approx(
        acct["net_liquidation"].iloc[-1]
        - acct[acct["day"] == acct["day"].iloc[-1]].iloc[0]["net_liquidation"]
    )


def test_portfolio_greeks_are_the_sum_over_open_positions_at_the_last_cycle(finished):
    reader = StoreReader(finished)
    run = latest_run(reader)
    risk = DeltaStore(finished).read("position_risk")
    last = risk[risk["time"] == risk["time"].max()]
    greeks = portfolio_greeks(reader, run).set_index("greek")
    open_ids = set(position_rows(reader, run)["position_id"])
    mine = last[last["position_id"].isin(open_ids)]
    assert greeks.loc["vega", "value"] == pytest.approx(round(mine["vega"].sum(), 2))
    assert greeks.loc["beta_delta", "limit"] == 150.0
    assert pd.isna(greeks.loc["theta", "limit"])


def test_alert_acknowledgements_are_rows_that_keep_the_alert_acknowledged(finished, tmp_path):
    reader = StoreReader(finished)
    run = latest_run(reader)
    alerts = alerts_data(reader, run)
    assert set(alerts["severity"]) >= {"warning", "critical"}
    assert alerts["when"].is_monotonic_decreasing or len(alerts) < 2
    assert set(alerts_data(reader, run, severities=["critical"])["severity"]) == {"critical"}
    assert set(alerts_data(reader, run, kinds=["breaker"])["kind"]) == {"breaker"}
    raw = DeltaStore(finished).read("alerts")
    first = raw.iloc[0]
    assert alert_ids(raw).iloc[0] == alert_id(
        first["run_id"], first["time"], first["source"], first["code"], first["message"]
    )
    target = alerts["alert_id"].iloc[0]
    acknowledge(DeltaStore(finished), [target], datetime.now(UTC), user="ops")
    fresh = alerts_data(StoreReader(finished), run)  # another process, later: still acked
    assert fresh.set_index("alert_id").loc[target, "acknowledged"].startswith("yes")
    assert target not in set(alerts_data(reader, run, unacknowledged=True)["alert_id"])


def test_alert_sources_are_grouped_as_a_trader_filters_them():
    assert alert_kind("iron_condor", "plugin_error") == "plugin"
    assert alert_kind("breakers", "breaker_trip") == "breaker"
    assert alert_kind("execution", "order_rejected") == "broker"
    assert alert_kind("regimes", "regime_readings_expired") == "data quality"


def test_a_position_page_shows_every_decision_and_its_payoff(finished):
    reader = StoreReader(finished)
    run = latest_run(reader)
    position_id = position_rows(reader, run, closed=True)["position_id"].iloc[0]
    page = position_data(reader, run, position_id)
    decisions = DeltaStore(finished).read("decisions")
    mine = decisions[decisions["position_id"] == position_id]
    per_cycle = sum(len(json.loads(v)) if v else 1 for v in mine["verdicts"])
    assert len(page["verdicts"]) == per_cycle
    payoff = page["payoff_figure"]
    assert payoff.layout.xaxis.title.text.endswith("price at expiry ($)")
    assert len(payoff.layout.shapes) == 2  # the zero line and today's price
    # A closed position's last row holds 0 units: the page shows what it held.
    every = position_rows(reader, run, closed=True)
    closed = every[(every["status"] == "closed") & (every["quantity"] > 0)]  # 0: never filled
    assert not closed.empty and (closed["entry_credit"] != 0).all()
    page = position_data(reader, run, closed["position_id"].iloc[0])
    assert "0 unit(s)" not in str(page["summary"])
    assert max(abs(y) for y in page["payoff_figure"].data[0].y) > 0


def test_the_halt_switch_state_follows_the_command_and_the_engine(finished):
    reader = StoreReader(finished)
    run = latest_run(reader)
    issue(DeltaStore(finished), HALT, datetime.now(UTC), user="ops")
    state = halt_state(reader, run)
    assert state["pending"] == "halt" and "next cycle" in state["text"]


class _WithoutChain:
    """The simulated feed with one underlying's chain missing (test boundary)."""

    def __init__(self, inner, symbol: str) -> None:
        self.inner = inner
        self.symbol = symbol
        self.symbols = inner.symbols

    def snapshot(self, time):
        from v6.domain.market import MarketView

        view = self.inner.snapshot(time)
        chains = {s: c for s, c in view.chains.items() if s != self.symbol}
        return MarketView(
            time=view.time,
            underlyings=view.underlyings,
            chains=chains,
            vix=view.vix,
            market_open=view.market_open,
        )


def test_an_underlying_without_usable_data_is_unhealthy_and_shown_stale_since_its_last_cycle(
    tmp_path,
):
    import yaml

    from dash_app.views import data_quality, et
    from v6.conversion import unstructure

    cfg = sim_config(tmp_path / "store", days=1)
    sim = sim_engine(cfg)
    config = yaml.safe_dump(unstructure(cfg), sort_keys=False)  # as v6 run records it
    sim.engine.recorder.run_event(datetime.now(UTC), "start", "sim", config, 0)
    good = sim.run(2)[-1].time
    sim.engine.market = _WithoutChain(sim.engine.market, "QQQ")
    sim.run(1)
    sim.engine.recorder.flush()
    health = evaluate(DeltaStore(sim.config.store.path), SETTINGS)
    failed = {c.name: c.detail for c in health.checks if not c.ok}
    assert list(failed) == ["market_data"] and "QQQ" in failed["market_data"]
    reader = StoreReader(sim.config.store.path)
    table = data_quality(reader, "test-run").set_index("underlying")
    assert table.loc["QQQ", "usable"] == "no"
    assert table.loc["QQQ", "last_usable"] == et(good)
    assert table.loc["SPY", "usable"] == "yes"
    sim.close()


def test_a_damaged_table_is_named_on_the_page_not_a_failed_request(finished, tmp_path):
    import shutil

    from dash_app.app import create_app

    root = tmp_path / "store"
    shutil.copytree(finished, root)
    data = sorted((root / "positions").glob("*.parquet"))[0]
    data.write_bytes(data.read_bytes()[:100] + b"x" * 50)  # a data file cut and garbled
    reader = StoreReader(root)
    run = latest_run(reader)
    client = create_app(reader, SETTINGS).server.test_client()
    response = client.post(
        "/_dash-update-component",
        json={
            "output": "..pos-table.data...pos-empty.children..",
            "outputs": [
                {"id": "pos-table", "property": "data"},
                {"id": "pos-empty", "property": "children"},
            ],
            "inputs": [
                {"id": "refresh", "property": "n_intervals", "value": 1},
                {"id": "run-select", "property": "value", "value": run},
                {"id": "pos-scope", "property": "value", "value": "open"},
            ],
            "changedPropIds": ["refresh.n_intervals"],
            "state": [],
        },
    )
    assert response.status_code == 200
    shown = response.get_json()["response"]
    assert set(shown) == {"pos-empty"}  # the table keeps what it showed
    text = shown["pos-empty"]["children"]["props"]["children"]
    assert text.startswith("Cannot read the store: table 'positions'") and "damaged" in text


# -- predictions and futures -------------------------------------------------------------


def _rows(frame: pd.DataFrame) -> list[dict]:
    """Rows read back, ready to append again (nulls as None, times aware)."""
    return pa.Table.from_pandas(frame, preserve_index=False).to_pylist()


def test_the_predictions_page_grades_with_the_report_and_says_what_is_pending(finished):
    from v6.predictions import report

    reader = StoreReader(finished)
    data = predictions_data(reader, latest_run(reader))
    store = DeltaStore(finished)
    frame = report.graded(store)
    assert len(frame) == data["counts"]["graded"] > 0
    expected = pd.DataFrame(report.by_group(frame))
    shown = data["metrics"]
    assert list(shown["strategy"]) == list(expected["strategy"])
    assert shown["mae"].tolist() == expected["mae"].round(2).tolist()
    assert shown["brier"].tolist() == expected["brier"].round(3).tolist()
    assert data["calibration"]["count"].tolist() == [b["count"] for b in report.calibration(frame)]
    assert data["empty"] is None

    # The same store with no prediction graded yet: the pending ones are counted.
    pending_only = DeltaStore(finished.parent / "pending")
    rows = store.read("predictions")
    pending_only.append("predictions", _rows(rows[rows["status"] == "pending"]))
    pending_only.flush()
    partial = predictions_data(StoreReader(pending_only.root), None)
    count = partial["counts"]["pending"]
    assert count > 0
    assert f"{count} pending prediction(s); the first grades land when a position closes" in str(
        partial["empty"]
    )
    assert partial["metrics"].empty and partial["calibration"].empty


def test_the_futures_page_reads_new_snapshots_of_every_contract_incrementally(finished, tmp_path):
    reader = StoreReader(finished)
    run = latest_run(reader)
    before = futures_data(reader, run)
    assert before["empty"] is None
    assert before["contracts"]["symbol"].tolist() == ["ES", "NQ", "RTY"]
    store = DeltaStore(finished)
    rows = store.read("futures_snapshots")
    later = rows.sort_values("time").groupby("symbol").tail(1).copy()
    later["time"] = later["time"] + pd.Timedelta(minutes=15)
    later["price"] = later["price"] + 1.0
    copy = DeltaStore(tmp_path / "copy")
    copy.append("futures_snapshots", _rows(rows))
    copy.flush()
    copy.append("runs", _rows(store.read("runs")))
    copy.flush()
    copied = StoreReader(copy.root)
    assert (
        futures_data(copied, run)["contracts"]["price"].tolist()
        == before["contracts"]["price"].tolist()
    )
    copy.append("futures_snapshots", _rows(later))  # new files, partitioned
    copy.flush()
    after = futures_data(copied, run)["contracts"]
    assert after["symbol"].tolist() == ["ES", "NQ", "RTY"]  # partition values, not nulls
    assert after["price"].tolist() == (later.sort_values("symbol")["price"]).round(2).tolist()
    fresh = StoreReader(copy.root).table("futures_snapshots")
    assert len(copied.table("futures_snapshots")) == len(fresh)
    assert copied.table("futures_snapshots")["symbol"].notna().all()


def test_predictions_and_futures_have_empty_states_and_a_futures_switch(tmp_path):
    reader = StoreReader(tmp_path / "missing")
    assert "No predictions stored yet" in str(predictions_data(reader, None)["empty"])
    assert "No run has written" in str(futures_data(reader, None)["empty"])
    assert futures_data(reader, None)["lead_lag"].empty
    store = DeltaStore(tmp_path / "off")
    store.append(
        "runs",
        [
            {
                "time": datetime.now(UTC),
                "run_id": "r1",
                "mode": "sim",
                "config": "mode: sim\nfutures:\n  enabled: false\n",
                "seed": 0,
                "event": "start",
                "message": "",
            }
        ],
    )
    store.flush()
    off = futures_data(StoreReader(store.root), "r1")
    assert "futures.enabled: false" in str(off["empty"])
    assert off["contracts"].empty


def _raw_get(port: int, path: str, host: str) -> int:
    """Status of a GET sent over a socket with exactly this ``Host`` header."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_on_loopback_without_a_login_a_foreign_host_header_is_refused(finished):
    """DNS rebinding: a page the operator visits rebinds its name to 127.0.0.1 and posts to
    the dashboard; its requests still say ``Host: evil.example`` and are refused."""
    dashboard = Dashboard(finished)
    try:
        port = dashboard.port
        assert _raw_get(port, "/", "evil.example") == 403
        assert _raw_get(port, "/_dash-layout", f"evil.example:{port}") == 403
        assert _raw_get(port, "/health", f"127.0.0.1.evil.example:{port}") == 403
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
            assert _raw_get(port, "/", host) == 200, host
        assert dashboard.get("/")[0] == 200
    finally:
        assert dashboard.stop()[0] == 0


def _press(client, callback: dict) -> None:
    response = client.post("/_dash-update-component", json=callback)
    assert response.status_code == 200, response.data[:300]


def _halt_click(button: str, n: int) -> dict:
    return {
        "output": "..halt-status.children...halt-status.style...halt-button.disabled..."
        "resume-button.disabled..",
        "outputs": [
            {"id": "halt-status", "property": "children"},
            {"id": "halt-status", "property": "style"},
            {"id": "halt-button", "property": "disabled"},
            {"id": "resume-button", "property": "disabled"},
        ],
        "inputs": [
            {"id": "halt-button", "property": "n_clicks", "value": n},
            {"id": "resume-button", "property": "n_clicks", "value": n},
            {"id": "refresh", "property": "n_intervals", "value": 1},
            {"id": "run-select", "property": "value", "value": None},
        ],
        "changedPropIds": [f"{button}.n_clicks"],
        "state": [{"id": "halt-reason", "property": "value", "value": f"click {n}"}],
    }


def _ack_click(alert: str, n: int) -> dict:
    return {
        "output": "..al-table.data...al-table.selected_rows...al-message.children..."
        "al-empty.children..",
        "outputs": [
            {"id": "al-table", "property": "data"},
            {"id": "al-table", "property": "selected_rows"},
            {"id": "al-message", "property": "children"},
            {"id": "al-empty", "property": "children"},
        ],
        "inputs": [
            {"id": "refresh", "property": "n_intervals", "value": 1},
            {"id": "run-select", "property": "value", "value": None},
            {"id": "al-severity", "property": "value", "value": []},
            {"id": "al-kind", "property": "value", "value": []},
            {"id": "al-unacked", "property": "value", "value": []},
            {"id": "al-ack", "property": "n_clicks", "value": n},
        ],
        "changedPropIds": ["al-ack.n_clicks"],
        "state": [{"id": "al-table", "property": "selected_row_ids", "value": [alert]}],
    }


def test_concurrent_halts_resumes_and_acknowledgements_all_land_exactly_once(tmp_path):
    """The dashboard's request threads share one store: pressed at once from several
    browsers, every halt, resume and acknowledgement is written exactly once."""
    import threading

    from dash_app.app import create_app

    root = tmp_path / "store"
    app = create_app(StoreReader(root), SETTINGS)
    threads, rounds = 6, 3
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def operator(n: int) -> None:
        client = app.server.test_client()
        try:
            start.wait()
            for i in range(rounds):
                button = "halt-button" if (n + i) % 2 else "resume-button"
                _press(client, _halt_click(button, 100 * n + i))
                _press(client, _ack_click(f"alert-{n}-{i}", i + 1))
        except BaseException as exc:  # reported below, not lost on the thread
            errors.append(exc)

    workers = [threading.Thread(target=operator, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    store = DeltaStore(root)
    commands = store.read("manual_commands")
    assert len(commands) == threads * rounds
    assert commands["command_id"].is_unique
    assert sorted(commands["reason"]) == sorted(
        f"click {100 * n + i}" for n in range(threads) for i in range(rounds)
    )
    acks = store.read("alert_acks")["alert_id"].tolist()
    assert sorted(acks) == sorted(f"alert-{n}-{i}" for n in range(threads) for i in range(rounds))


def test_greeks_totals_say_incomplete_and_never_count_an_unvalued_position_as_zero(
    finished, tmp_path
):
    """A position the engine could not value (a leg without a usable quote) has unknown
    Greeks: the totals leave it out and say so, with its max loss; its row shows n/a."""
    import shutil

    import pyarrow as pa

    from dash_app.views import greeks_history
    from v6.store.schemas import POSITION_RISK

    root = tmp_path / "store"
    shutil.copytree(finished, root)
    reader = StoreReader(root)
    run = latest_run(reader)
    store = DeltaStore(root)
    risk = store.read("position_risk")
    last = risk[(risk["time"] == risk["time"].max()) & (risk["run_id"] == run)].copy()
    open_ids = sorted(set(position_rows(reader, run)["position_id"]) & set(last["position_id"]))
    assert len(open_ids) >= 2, "the session left fewer than two open positions"
    nulled, zeroed = open_ids[0], open_ids[1]  # what V6 stores now; what an older store held
    later = last.assign(time=last["time"] + pd.Timedelta(minutes=15))
    greek_columns = ["delta", "beta_delta", "gamma", "vega", "theta"]
    later.loc[later["position_id"] == nulled, greek_columns] = float("nan")
    later.loc[later["position_id"] == zeroed, greek_columns] = 0.0
    later.loc[later["position_id"].isin([nulled, zeroed]), "valid"] = False
    store.append("position_risk", pa.Table.from_pandas(later, schema=POSITION_RISK))
    store.flush()

    reader = StoreReader(root)
    greeks = portfolio_greeks(reader, run).set_index("greek")
    mine = later[later["position_id"].isin(open_ids[2:])]  # the positions still valued
    unvalued_loss = later.loc[later["position_id"].isin([nulled, zeroed]), "max_loss"].abs().sum()
    assert (greeks["unvalued"] == 2).all()
    assert greeks.loc["vega", "unvalued_max_loss"] == pytest.approx(unvalued_loss, abs=0.01)
    assert greeks.loc["vega", "status"].startswith("INCOMPLETE: 2 positions unvalued")
    assert f"max loss ${unvalued_loss:,.2f}" in greeks.loc["vega", "status"]
    assert greeks.loc["vega", "value"] == pytest.approx(round(mine["vega"].sum(), 2))

    rows = position_rows(reader, run).set_index("position_id")
    for pid in (nulled, zeroed):
        assert rows.loc[pid, ["beta_delta", "gamma", "vega", "theta"]].isna().all(), pid
    for pid in open_ids[2:]:
        assert rows.loc[pid, ["beta_delta", "gamma", "vega", "theta"]].notna().all(), pid
    history = greeks_history(reader, run)
    assert history.iloc[-1][["beta_delta", "vega"]].isna().all()  # a gap, not a false sum
    assert history.iloc[-2][["beta_delta", "vega"]].notna().all()

    overview = overview_data(reader, run, SETTINGS)
    assert set(overview["greeks"]["status"]) == {greeks.loc["vega", "status"]}
    assert "INCOMPLETE" in overview["greeks_figure"].layout.title.text


def test_the_engine_stores_an_unvalued_positions_greeks_as_null_not_zero(tmp_path):
    """``position_risk`` keeps unknown Greeks unknown: a position whose legs have no usable
    quote this cycle is stored with null Greeks and ``valid`` False."""
    sim = sim_engine(sim_config(tmp_path / "store", days=1))
    try:
        sim.run(3)
        live = sim.engine.book.positions()
        assert live, "no position opened"
        dark = live[0].underlying
        market = sim.engine.market

        class DarkChain:
            """The real feed, with every quote of one underlying unusable."""

            def __getattr__(self, name):
                return getattr(market, name)

            def snapshot(self, now):
                view = market.snapshot(now)
                chain = view.chains[dark]
                chains = {**view.chains, dark: chain.with_validity(np.zeros(len(chain), bool))}
                return attrs.evolve(view, chains=chains)

        sim.engine.market = DarkChain()
        sim.run(1)
    finally:
        sim.close()
    risk = DeltaStore(sim.config.store.path).read("position_risk")
    last = risk[risk["time"] == risk["time"].max()]
    dark_rows = last[last["underlying"] == dark]
    assert not dark_rows.empty
    assert not dark_rows["valid"].any()
    assert dark_rows[["delta", "beta_delta", "gamma", "vega", "theta"]].isna().all().all()
    lit = last[last["underlying"] != dark]
    assert lit[["beta_delta", "vega"]].notna().all().all()
