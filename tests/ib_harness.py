"""Helpers for tests that run V6's IB adapter, with the real ib_async client, against the
fake gateway (``v6.testing.ib_gateway``) on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import numpy as np
import yaml
from sessions import table

from v6.app import build_engine
from v6.config import Mode, PluginBlock, TradingConfig
from v6.config_loader import load_config
from v6.conversion import unstructure
from v6.market.calendar import ExchangeCalendar
from v6.pricing.payoff import risk_profile
from v6.testing.ib_gateway import FakeGateway, SimQuotes

ACCOUNT = "DU123456"
START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 New York, a Monday
STEP = timedelta(minutes=15)
_CALENDAR = ExchangeCalendar()


@contextlib.contextmanager
def running_gateway(account: str = ACCOUNT, start: datetime = START) -> Iterator[FakeGateway]:
    """A gateway serving the default simulated market, in its own thread."""
    gateway = FakeGateway(
        account=account, next_order_id=100, quotes=SimQuotes.from_config(start, calendar=_CALENDAR)
    )
    gateway.run_in_thread()
    try:
        yield gateway
    finally:
        gateway.stop_thread()
    assert gateway.protocol_errors == []


def paper_config(store: Path, port: int, **ib: object) -> TradingConfig:
    """The embedded defaults in paper mode against the gateway, one iron condor per
    underlying per cycle at most, quick reconnects and short order timeouts."""
    cfg = load_config(None)
    ib = {"account": ACCOUNT, **ib}
    ib_settings = attrs.evolve(
        cfg.ib,
        port=port,
        client_id=5,
        timeout_seconds=5.0,
        strikes_per_side=40,
        max_option_lines=1000,
        expiries=1,
        reconnect_backoff_seconds=[0.0, 0.1],
        order_ack_seconds=1.0,
        max_requests_per_second=0,  # a local gateway needs no pacing
        **ib,
    )
    plugins = attrs.evolve(
        cfg.plugins,
        strategies={"iron_condor": PluginBlock(settings={"min_dte": 14, "max_dte": 45})},
    )
    return attrs.evolve(
        cfg,
        mode=Mode.PAPER,
        ib=ib_settings,
        plugins=plugins,
        store=attrs.evolve(cfg.store, path=str(store)),
        cycle=attrs.evolve(cfg.cycle, interval_seconds=1),
    )


def write_config(cfg: TradingConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(unstructure(cfg), sort_keys=False), encoding="utf-8")
    return path


def ib_engine(cfg: TradingConfig):
    """Engine and broker clock wired exactly as ``v6 run`` wires paper mode."""
    return build_engine(cfg, "test-ib")


def advance(gateway: FakeGateway, step: timedelta = STEP) -> None:
    """Move the served market forward and stream the new quotes."""
    quotes = gateway.quotes
    quotes.advance(quotes.now() + step)
    gateway.push_quotes()


def run_cycles(engine, clock, gateway: FakeGateway, n: int) -> list:
    """``n`` engine cycles, the market moving 15 minutes between them."""
    reports = []
    for _ in range(n):
        reports.append(engine.run_cycle(clock.now()))
        advance(gateway)
    engine.recorder.flush()  # so the test reads what happened from the tables
    return reports


def broker_option_positions(gateway: FakeGateway) -> dict[str, int]:
    """The gateway's (the account's) option positions by V6 contract key."""
    out = {}
    for position in gateway.positions.values():
        c = position.contract
        if c.sec_type != "OPT" or not position.quantity:
            continue
        out[f"{c.symbol} {c.expiry} {c.strike:g}{c.right}"] = int(position.quantity)
    return out


def naked_shorts(positions: dict[str, int]) -> list[str]:
    """Groups (underlying and expiry) whose option positions have undefined risk."""
    groups: dict[str, list[tuple[float, bool, int]]] = {}
    for key, qty in positions.items():
        symbol, expiry, strike_right = key.split(" ")
        groups.setdefault(f"{symbol} {expiry}", []).append(
            (float(strike_right[:-1]), strike_right[-1] == "C", qty)
        )
    bad = []
    for group, legs in groups.items():
        strikes, calls, qtys = (np.array(x) for x in zip(*legs, strict=True))
        if not risk_profile(strikes, calls, qtys.astype(float), 0.0).defined:
            bad.append(group)
    return bad


def placed_refs(gateway: FakeGateway) -> list[str]:
    """orderRef of every new order the gateway received (modifications excluded)."""
    return [o.order_ref for o in sorted(gateway.orders.values(), key=lambda o: o.order_id)]


def assert_sound(cfg: TradingConfig, engine, gateway: FakeGateway) -> None:
    """No naked short, no duplicate order, every order and fill stored, each execution's
    commission booked once in full, book == broker."""
    engine.recorder.flush()
    held = broker_option_positions(gateway)
    assert naked_shorts(held) == []
    refs = placed_refs(gateway)
    assert [r for r, n in Counter(refs).items() if n > 1] == []
    orders = table(cfg, "orders")
    assert set(refs) <= set(orders.order_ref)
    executions = {e.exec_id: e for o in gateway.orders.values() for e in o.leg_executions}
    fills = table(cfg, "fills")
    assert fills.exec_id.is_unique
    commissions = fills.kind == "commission"
    execution_of = fills.exec_id.str.replace(r":commission\d*$", "", regex=True)
    trades = fills[~commissions]
    reversals = trades.exec_id.str.endswith(":reversed")
    reversed_ = {e.removesuffix(":reversed") for e in trades.exec_id[reversals]}
    # A corrected execution: the original and its reversal, then the correction.
    assert set(trades.exec_id[~reversals]) - set(executions) == reversed_
    # A late commission belongs to a known execution (maybe one corrected since).
    assert set(execution_of[commissions]) <= set(executions) | reversed_
    assert set(executions) <= set(fills.exec_id)
    booked = fills.groupby(execution_of).commission.sum()
    for exec_id, execution in executions.items():
        if not execution.commission_pending:  # IB has reported it
            assert round(booked[exec_id], 2) == round(execution.commission, 2), exec_id
    assert {k: v for k, v in engine.book.net_contracts().items() if v} == held
