"""The simulated broker: combo limit orders matched against the market's own quotes.

What it models, and the simplifications it makes on purpose:

* **Acknowledgement.** ``place`` answers at once with SUBMITTED or REJECTED. Orders can
  only fill in ``poll``, and only once ``latency_seconds`` have passed since the order's
  ``created_at`` (or, without one, the last market time the broker saw). ``modify`` and
  ``cancel`` take effect immediately and do not restart the latency.
* **Matching.** A combo's price is a net debit per unit per share (credit negative, see
  :mod:`v6.domain.orders`), so one rule serves debit and credit orders alike. Where the
  limit sits between mid and natural is ``x = (limit - net_mid) / net_half_spread``
  (0 at mid, 1 at natural). No order fills below ``fill_threshold_half_spreads``; an
  order at or through natural fills at once. In between it depends on ``fill_model``:
  ``immediate_mid`` fills at once; ``liquidity`` (the default) fills at each market
  snapshot with probability ``liquidity * (p_mid + (1 - p_mid) * x)``, where ``p_mid``
  is ``fill_probability_at_mid`` and ``liquidity = min(1, (liquidity_reference_vix /
  VIX) ** liquidity_vix_elasticity)``: a resting order at mid waits a few cycles, one
  stepped toward natural fills sooner, and nothing trades easily in a panic. The draw
  is a uniform number fixed by the seed, the order reference and the snapshot time, so
  polling twice at one time never gives an order a second chance, and a run is
  reproducible whatever else happens. It fills *at the limit*, never better. Nothing
  fills while the market is closed, or when any leg is unlisted, marked invalid, NaN,
  negative or crossed.
* **Leg prices.** Each leg starts at its mid (in cents); the difference to the limit is
  shared in proportion to each leg's half-spread, prices are kept non-negative and the
  last cent of residual goes on the first leg, so ``sum(ratio * leg price)`` equals the
  combo price exactly. Limits must be whole cents (a real exchange rejects prices off
  the tick).
* **Money.** Cash is kept in integer cents: every fill moves it by ``Fill.cash_flow``
  (price x quantity x multiplier, minus ``commission_per_contract`` per contract per
  fill). Net liquidation is cash plus positions at mid; an invalid quote falls back to
  the last good mid, then to the average cost. ``realized_pnl`` is net of commissions,
  so ``net_liquidation - initial_cash == realized_pnl + unrealized_pnl``.
* **Margin.** :func:`v6.brokers.margin.maintenance_margin`: defined risk per
  (underlying, expiry), Reg-T style for uncovered shorts. An opening order is rejected
  when the account, with every working opening order and this one filled at their
  limits, would have negative buying power.
* **Expiration.** Options whose expiry is before the New York date of the poll are cash
  settled at intrinsic value against ``market.underlyings[symbol].last`` at that poll
  (not physical assignment, and not the exact closing print), as fills with
  ``order_ref="expiration"``, ``kind="expiration"`` and no commission. Working orders on
  an expired contract are cancelled.
* **Unknown references.** ``modify`` and ``cancel`` of an unknown ``order_ref`` return a
  REJECTED state with a message (nothing is stored); on a finished order they return its
  final state unchanged with a message; a refused modification leaves the order working
  at its old limit.

Randomness (rejections, partial and legged fills) comes from one ``numpy`` generator
seeded at construction and fill timing from the seeded draw above, so a run is
reproducible. Tests inject faults through ``broker.faults``
(:class:`SimFaults`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from attrs import define, field

from v6.brokers.margin import HeldOption, maintenance_margin
from v6.config import SimBrokerSettings
from v6.domain.account import AccountSnapshot, BrokerPosition
from v6.domain.contracts import OptionContract
from v6.domain.market import MarketView, OptionChain, locate_contracts
from v6.domain.orders import (
    BrokerUpdate,
    ComboOrder,
    Fill,
    OrderIntent,
    OrderState,
    OrderStatus,
)

NEW_YORK = ZoneInfo("America/New_York")
EXPIRATION_REF = "expiration"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PRICE_EPS = 1e-9


def to_cents(dollars: float) -> int:
    """Dollars to whole cents, rounding half away from zero."""
    return int(math.copysign(math.floor(abs(dollars) * 100.0 + 0.5 + 1e-7), dollars))


def split_combo_price(
    combo_cents: int,
    ratio: np.ndarray,
    mid: np.ndarray,
    half_spread: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """Per-leg prices in cents with ``sum(ratio * price) == combo_cents`` exactly.

    Why: a broker reports one execution per leg, and the account only balances to the
    cent if those leg prices add back to the combo price. Legs start at their mid and
    share the difference in proportion to their half-spread (wide legs move more); no
    price goes below zero, and with ``bounds`` (each leg's bid and ask, in dollars) no
    leg fills outside its own quote: the rounding residual goes to the legs that have
    room for it. Returns None when no such split exists (the order then waits).
    """
    r = np.asarray(ratio, dtype=np.int64)
    start = np.maximum(np.rint(np.asarray(mid, dtype=np.float64) * 100.0), 0.0).astype(np.int64)
    if bounds is None:
        low = np.zeros_like(start)
        high = np.full_like(start, np.iinfo(np.int64).max // 4)
    else:
        # Whole cents inside the quote: a bid of 1.005 allows 1.01, an ask of 2.004 2.00.
        low = np.maximum(np.ceil(np.asarray(bounds[0]) * 100.0 - 1e-6), 0).astype(np.int64)
        high = np.floor(np.asarray(bounds[1]) * 100.0 + 1e-6).astype(np.int64)
        if (low > high).any():
            return None
    diff = combo_cents - int(r @ start)
    weight = np.abs(r) * np.maximum(np.nan_to_num(np.asarray(half_spread) * 100.0), 0.5)
    share = diff * weight / weight.sum()  # each leg's part of the difference, in combo cents
    prices = np.clip(start + np.rint(share / r).astype(np.int64), low, high)
    residual = combo_cents - int(r @ prices)
    # Hand what is left to the legs with room, the smallest ratios first (finest steps).
    for i in sorted(range(len(r)), key=lambda k: abs(int(r[k]))):
        if residual == 0:
            break
        ri = int(r[i])
        move = int(residual / ri)  # toward zero: never overshoots the residual
        move = min(max(move, int(low[i] - prices[i])), int(high[i] - prices[i]))
        prices[i] += move
        residual -= ri * move
    return prices if residual == 0 else None


def quotes_of(
    chain: OptionChain | None, contracts: Sequence[OptionContract]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bid, ask, usable) per contract, by one vectorised lookup; unusable when unlisted,
    invalid, NaN or crossed (the backtest's broker holds many contracts against
    2,000-option chains, and uses it too). Rows are found against the sorted index the
    chain keeps (:func:`v6.domain.market.locate_contracts`)."""
    n = len(contracts)
    if chain is None or len(chain) == 0 or n == 0:
        nan = np.full(n, np.nan)
        return nan, nan.copy(), np.zeros(n, dtype=bool)
    rows = locate_contracts(chain, contracts)
    found = rows >= 0
    safe = np.where(found, rows, 0)
    bid = np.where(found, chain.bid[safe], np.nan)
    ask = np.where(found, chain.ask[safe], np.nan)
    with np.errstate(invalid="ignore"):
        usable = (
            found
            & chain.valid[safe]
            & np.isfinite(bid)
            & np.isfinite(ask)
            & (bid >= 0)
            & (bid <= ask)
        )
    return bid, ask, usable


_Quotes = tuple[np.ndarray, np.ndarray, np.ndarray]  # (bid, ask, usable) per leg


def liquidity(vix: float, settings: SimBrokerSettings) -> float:
    """How easily a resting limit trades (1 in a normal market, less as VIX rises)."""
    if not math.isfinite(vix) or vix <= 0:
        return 1.0
    ratio = settings.liquidity_reference_vix / vix
    return min(1.0, ratio**settings.liquidity_vix_elasticity)


def fill_draw(seed: int, order_ref: str, time: datetime) -> float:
    """A uniform number in [0, 1) fixed by the seed, the order and the snapshot time."""
    micros = round((time - _EPOCH).total_seconds() * 1_000_000)
    entropy = [seed & 0xFFFFFFFF, zlib.crc32(order_ref.encode()), micros & 0xFFFFFFFFFFFF]
    return float(np.random.default_rng(entropy).random())


class SimFaults:
    """Deterministic faults a test injects into the simulated broker.

    * ``reject_next(n, message)``: the next ``n`` new orders placed are rejected.
    * ``partial_next(units)``: the next fill of any order executes at most ``units``
      units (queued; one entry per call); the rest stays working.
    * ``hold_fills(order_ref=None)`` / ``release_fills(order_ref=None)``: an order (or,
      with None, every order) does not fill, however marketable, until released.
    * ``leg_next(order_ref, legs)``: that order's next fill executes only the legs at the
      given indices and the order is then cancelled: a legged position to unwind.
    * ``disconnect()`` / ``reconnect()``: while disconnected, new orders are rejected and
      nothing fills or settles; what would have happened is delivered after reconnecting.
    """

    def __init__(self) -> None:
        self._rejects: list[str] = []
        self._partials: list[int] = []
        self._held: set[str] = set()
        self._hold_all = False
        self._legged: dict[str, tuple[int, ...]] = {}
        self.connected = True

    def disconnect(self) -> None:
        """Drop the connection: orders are refused and nothing is reported until reconnect."""
        self.connected = False

    def reconnect(self) -> None:
        """Restore the connection."""
        self.connected = True

    def reject_next(self, n: int = 1, message: str = "rejected by injected fault") -> None:
        """Reject the next ``n`` orders placed, with ``message``."""
        self._rejects.extend([message] * n)

    def partial_next(self, units: int) -> None:
        """Limit the next fill of any order to ``units`` units (at least 1)."""
        self._partials.append(max(1, int(units)))

    def hold_fills(self, order_ref: str | None = None) -> None:
        """Keep ``order_ref`` (None: every order) from filling until released."""
        if order_ref is None:
            self._hold_all = True
        else:
            self._held.add(order_ref)

    def release_fills(self, order_ref: str | None = None) -> None:
        """Undo :meth:`hold_fills` for ``order_ref`` (None: release every hold)."""
        if order_ref is None:
            self._hold_all = False
            self._held.clear()
        else:
            self._held.discard(order_ref)

    def leg_next(self, order_ref: str, legs: Sequence[int]) -> None:
        """At its next fill, execute only ``legs`` (indices) of ``order_ref``, then cancel."""
        self._legged[order_ref] = tuple(int(i) for i in legs)

    # -- used by the broker ---------------------------------------------------------

    def take_reject(self) -> str | None:
        return self._rejects.pop(0) if self._rejects else None

    def take_partial(self) -> int | None:
        return self._partials.pop(0) if self._partials else None

    def holds(self, order_ref: str) -> bool:
        return self._hold_all or order_ref in self._held

    def take_legged(self, order_ref: str) -> tuple[int, ...] | None:
        return self._legged.pop(order_ref, None)


@define
class _Working:
    """The broker's private record of one order."""

    order: ComboOrder
    broker_order_id: str
    submitted_at: datetime
    limit_price: float
    status: OrderStatus
    time: datetime
    filled: int = 0
    filled_cents: int = 0  # sum of units x combo price, for the average fill price
    message: str = ""

    def state(self, message: str | None = None) -> OrderState:
        return OrderState(
            order_ref=self.order.order_ref,
            status=self.status,
            filled_quantity=self.filled,
            remaining_quantity=self.order.quantity - self.filled,
            avg_fill_price=round(self.filled_cents / self.filled / 100.0, 6)
            if self.filled
            else None,
            time=self.time,
            broker_order_id=self.broker_order_id,
            limit_price=self.limit_price,
            message=self.message if message is None else message,
        )


@define
class _Holding:
    contract: OptionContract
    quantity: int
    avg_cost: float  # per share


@define
class _Ledger:
    """Cash and positions, booked fill by fill (average-cost method)."""

    cash_cents: int
    commission_cents: int = 0
    realized_gross: float = 0.0
    holdings: dict[str, _Holding] = field(factory=dict)

    def book(self, fill: Fill) -> None:
        self.cash_cents += to_cents(fill.cash_flow)
        self.commission_cents += to_cents(fill.commission)
        key = fill.contract.key
        held = self.holdings.get(key)
        q0, c0 = (held.quantity, held.avg_cost) if held else (0, 0.0)
        dq, price = fill.quantity, fill.price
        q1 = q0 + dq
        if q0 == 0 or (q0 > 0) == (dq > 0):
            cost = (q0 * c0 + dq * price) / q1
        else:
            closing = math.copysign(min(abs(dq), abs(q0)), dq)
            self.realized_gross += -closing * (price - c0) * fill.contract.multiplier
            cost = c0 if q1 == 0 or (q1 > 0) == (q0 > 0) else price
        if q1 == 0:
            self.holdings.pop(key, None)
        else:
            self.holdings[key] = _Holding(fill.contract, q1, cost)


class SimBroker:
    """A deterministic in-process broker implementing :class:`v6.ports.Broker`."""

    def __init__(
        self, settings: SimBrokerSettings, initial_cash: float, seed: int, session: str = ""
    ) -> None:
        self.settings = settings
        self.faults = SimFaults()
        self._rng = np.random.default_rng(seed)
        self._seed = int(seed)
        self._initial_cents = to_cents(initial_cash)
        self._ledger = _Ledger(cash_cents=self._initial_cents)
        self._orders: dict[str, _Working] = {}  # every order ever placed, by reference
        # The orders still working, in the order placed: what matching and the buying
        # power check walk, so a cycle costs what is live, not what was ever placed.
        self._live: dict[str, _Working] = {}
        self._marks: dict[str, float] = {}  # last good mid per contract key
        self._spots: dict[str, float] = {}  # last underlying price per symbol
        self._now: datetime | None = None
        self._last_market: MarketView | None = None
        # The snapshot held contracts were last marked from, and the keys looked up in
        # it: a second look at one snapshot looks up only what was bought since.
        self._marked: tuple[MarketView | None, set[str]] = (None, set())
        # Leg quotes per order reference in one snapshot (the backtest's fill model, the
        # match and the buying power check each ask for them).
        self._leg_quotes: tuple[MarketView | None, dict[str, _Quotes]] = (None, {})
        self._order_seq = 0
        self._exec_seq = 0
        # Execution ids are unique per store, like a real broker's: runs sharing a store
        # each name their session (the run id), so one run's ids never repeat another's.
        self._exec_prefix = f"sim-{session}-exec" if session else "sim-exec"

    @property
    def connected(self) -> bool:
        """False while an injected disconnect lasts."""
        return self.faults.connected

    # -- orders ---------------------------------------------------------------------

    def place(self, order: ComboOrder) -> OrderState:
        """Acknowledge or reject ``order``; an ``order_ref`` already known is never re-sent."""
        known = self._orders.get(order.order_ref)
        if known is not None:
            return known.state()
        self._order_seq += 1
        time = order.created_at or self._now or _EPOCH
        working = _Working(
            order=order,
            broker_order_id=f"sim-{self._order_seq}",
            submitted_at=time,
            limit_price=order.limit_price,
            status=OrderStatus.SUBMITTED,
            time=time,
        )
        self._orders[order.order_ref] = working
        reason = self._rejection(order)
        if reason is not None:
            working.status = OrderStatus.REJECTED
            working.message = reason
        else:
            self._live[order.order_ref] = working
        return working.state()

    def modify(self, order_ref: str, limit_price: float) -> OrderState:
        """Move a working order's limit; a refused change leaves the old limit working."""
        working = self._orders.get(order_ref)
        if working is None:
            return self._unknown(order_ref, "modify")
        if working.status.is_done:
            return working.state(f"cannot modify: order is {working.status.value}")
        reason = self._price_problem(working.order, limit_price)
        if reason is not None:
            return working.state(f"modify refused: {reason}")
        working.limit_price = float(limit_price)
        working.time = self._now or working.time
        working.message = ""
        return working.state()

    def cancel(self, order_ref: str) -> OrderState:
        """Cancel what remains of a working order; filled units stay filled."""
        working = self._orders.get(order_ref)
        if working is None:
            return self._unknown(order_ref, "cancel")
        if working.status.is_done:
            return working.state(f"cannot cancel: order is {working.status.value}")
        working.status = OrderStatus.CANCELLED
        working.time = self._now or working.time
        working.message = "cancelled"
        return working.state()

    def open_orders(self) -> list[OrderState]:
        """States of every order still working (submitted or partly filled)."""
        return [w.state() for w in self._working()]

    def _working(self) -> list[_Working]:
        """The orders still working, in the order placed (finished ones are dropped from
        the live set here, whatever finished them)."""
        done = [ref for ref, w in self._live.items() if w.status.is_done]
        for ref in done:
            del self._live[ref]
        return list(self._live.values())

    # -- matching -------------------------------------------------------------------

    def poll(self, market: MarketView) -> BrokerUpdate:
        """Settle expirations, then match every working order against ``market``."""
        if not self.faults.connected:
            return BrokerUpdate(states=(), fills=())
        self._observe(market)
        states: list[OrderState] = []
        fills = self._settle_expirations(market)
        today = market.time.astimezone(NEW_YORK).date()
        for working in self._working():
            if working.status.is_done:
                continue
            expired = [
                leg.contract.key for leg in working.order.legs if leg.contract.expiry < today
            ]
            if expired:
                working.status = OrderStatus.CANCELLED
                working.time = market.time
                working.message = f"contract expired: {', '.join(expired)}"
                states.append(working.state())
                continue
            filled = self._match(working, market)
            if filled:
                fills.extend(filled)
                states.append(working.state())
        return BrokerUpdate(states=tuple(states), fills=tuple(fills))

    def quotes_for(self, order: ComboOrder, market: MarketView | None) -> _Quotes:
        """:func:`quotes_of` the legs of ``order`` in ``market``, looked up once per order
        and snapshot (read-only arrays: they are shared by every caller)."""
        if self._leg_quotes[0] is not market:
            self._leg_quotes = (market, {})
        cache = self._leg_quotes[1]
        quotes = cache.get(order.order_ref)
        if quotes is None:
            chain = market.chains.get(order.underlying) if market is not None else None
            quotes = quotes_of(chain, [leg.contract for leg in order.legs])
            for array in quotes:
                array.flags.writeable = False
            cache[order.order_ref] = quotes
        return quotes

    def _match(self, working: _Working, market: MarketView) -> list[Fill]:
        order = working.order
        if not market.market_open or self.faults.holds(order.order_ref):
            return []
        ready = working.submitted_at + timedelta(seconds=self.settings.latency_seconds)
        if ready > market.time:
            return []
        ratio = np.array([leg.ratio for leg in order.legs], dtype=np.int64)
        bid, ask, usable = self.quotes_for(order, market)
        if not usable.all():
            return []
        mid, half = (bid + ask) / 2.0, (ask - bid) / 2.0
        net_half = float(np.abs(ratio) @ half)
        threshold = ratio @ mid + self.settings.fill_threshold_half_spreads * net_half
        if working.limit_price < threshold - _PRICE_EPS:
            return []
        if not self._fills_now(working, float(ratio @ mid), net_half, market):
            return []
        # A limit through the natural price fills at the natural (every leg at its own
        # bid or ask), as an exchange would: never worse than the quotes.
        natural = int(
            ratio @ np.where(ratio > 0, np.floor(ask * 100 + 1e-6), np.ceil(bid * 100 - 1e-6))
        )
        combo_cents = min(to_cents(working.limit_price), natural)
        leg_cents = split_combo_price(combo_cents, ratio, mid, half, bounds=(bid, ask))
        if leg_cents is None:
            return []
        units = self._units(order.quantity - working.filled)
        legged = self.faults.take_legged(order.order_ref)
        if legged is None:
            legged = self._random_legs(len(order.legs))
        legs = range(len(order.legs)) if legged is None else legged
        fills = [
            self._fill(
                order.order_ref,
                order.legs[i].contract,
                int(ratio[i]) * units,
                int(leg_cents[i]),
                market.time,
            )
            for i in legs
        ]
        working.time = market.time
        if legged is not None:
            working.status = OrderStatus.CANCELLED
            working.message = f"legged fill: only legs {list(legs)} executed; rest cancelled"
            return fills
        working.filled += units
        working.filled_cents += units * combo_cents
        working.message = ""
        working.status = (
            OrderStatus.FILLED if working.filled == order.quantity else OrderStatus.PARTIAL
        )
        return fills

    def _fills_now(
        self, working: _Working, net_mid: float, net_half: float, market: MarketView
    ) -> bool:
        """Whether a limit at or above the threshold fills at this snapshot."""
        settings = self.settings
        if settings.fill_model == "immediate_mid" or net_half <= _PRICE_EPS:
            return True
        x = (working.limit_price - net_mid) / net_half
        if x >= 1.0 - _PRICE_EPS:
            return True  # at or through the natural price: marketable
        p_mid = settings.fill_probability_at_mid
        probability = liquidity(market.vix, settings) * (p_mid + (1.0 - p_mid) * max(x, 0.0))
        return fill_draw(self._seed, working.order.order_ref, market.time) < probability

    def _random_legs(self, n: int) -> tuple[int, ...] | None:
        """Legs of a legged fill drawn at ``legged_fill_probability`` (None: all fill)."""
        probability = self.settings.legged_fill_probability
        if n < 2 or probability <= 0 or self._rng.random() >= probability:
            return None
        count = int(self._rng.integers(1, n))
        return tuple(sorted(int(i) for i in self._rng.choice(n, size=count, replace=False)))

    def _units(self, remaining: int) -> int:
        """Units to fill now: all, or a partial from a fault or the seeded generator."""
        forced = self.faults.take_partial()
        if forced is not None:
            return min(forced, remaining)
        probability = self.settings.partial_fill_probability
        if remaining > 1 and probability > 0 and self._rng.random() < probability:
            return int(self._rng.integers(1, remaining))
        return remaining

    def _fill(
        self,
        order_ref: str,
        contract: OptionContract,
        quantity: int,
        cents: int,
        time: datetime,
        kind: str = "trade",
    ) -> Fill:
        self._exec_seq += 1
        commission = (
            to_cents(self.settings.commission_per_contract * abs(quantity)) / 100.0
            if kind == "trade"
            else 0.0
        )
        fill = Fill(
            exec_id=f"{self._exec_prefix}-{self._exec_seq:06d}",
            order_ref=order_ref,
            contract=contract,
            quantity=quantity,
            price=cents / 100.0,
            commission=commission,
            time=time,
            kind=kind,
        )
        self._ledger.book(fill)
        return fill

    def _settle_expirations(self, market: MarketView) -> list[Fill]:
        today = market.time.astimezone(NEW_YORK).date()
        fills: list[Fill] = []
        for held in list(self._ledger.holdings.values()):
            contract = held.contract
            if contract.expiry >= today:
                continue
            spot = self._spots.get(contract.underlying)
            if spot is None:
                continue  # settle once the underlying's price is known
            fills.append(self._settle(held, spot, market.time))
        return fills

    def _settle(self, held: _Holding, price: float, time: datetime) -> Fill:
        """Close ``held`` at its intrinsic value against ``price`` (expiration)."""
        contract = held.contract
        intrinsic = price - contract.strike if contract.is_call else contract.strike - price
        self._marks.pop(contract.key, None)
        self._marked[1].discard(contract.key)
        return self._fill(
            EXPIRATION_REF,
            contract,
            -held.quantity,
            to_cents(max(intrinsic, 0.0)),
            time,
            kind="expiration",
        )

    # -- account --------------------------------------------------------------------

    def positions(self) -> list[BrokerPosition]:
        """Net contracts per contract key with the average cost per share."""
        return [
            BrokerPosition(contract_key=key, quantity=h.quantity, avg_cost=h.avg_cost)
            for key, h in sorted(self._ledger.holdings.items())
        ]

    def account(self, market: MarketView) -> AccountSnapshot:
        """Cash, positions at mid, margin and buying power as of ``market``."""
        self._observe(market)
        holdings = list(self._ledger.holdings.values())
        marks = [self._mark(h) for h in holdings]
        value = sum(
            h.quantity * m * h.contract.multiplier for h, m in zip(holdings, marks, strict=True)
        )
        unrealized = sum(
            h.quantity * (m - h.avg_cost) * h.contract.multiplier
            for h, m in zip(holdings, marks, strict=True)
        )
        cash = self._ledger.cash_cents / 100.0
        net_liq = round(cash + value, 2)
        margin = maintenance_margin(self._held(holdings, marks), self._spots)
        commissions = self._ledger.commission_cents / 100.0
        return AccountSnapshot(
            time=market.time,
            cash=cash,
            net_liquidation=net_liq,
            buying_power=round(net_liq - margin, 2),
            maintenance_margin=margin,
            realized_pnl=round(self._ledger.realized_gross - commissions, 2),
            unrealized_pnl=round(unrealized, 2),
            commissions=commissions,
        )

    # -- internals ------------------------------------------------------------------

    def _observe(self, market: MarketView) -> None:
        """Remember the time, underlying prices and good mids of every held contract."""
        if self._now is None or market.time >= self._now:
            self._now = market.time
            self._last_market = market
        for symbol, quote in market.underlyings.items():
            if np.isfinite(quote.last) and quote.last > 0:
                self._spots[symbol] = float(quote.last)
        if self._marked[0] is not market:
            self._marked = (market, set())
        looked_up = self._marked[1]
        by_underlying: dict[str, list[OptionContract]] = {}
        for key, held in self._ledger.holdings.items():
            if key not in looked_up:
                looked_up.add(key)
                by_underlying.setdefault(held.contract.underlying, []).append(held.contract)
        for symbol, contracts in by_underlying.items():
            bid, ask, usable = quotes_of(market.chains.get(symbol), contracts)
            mids = ((bid + ask) / 2.0).tolist()
            for contract, mid, ok in zip(contracts, mids, usable.tolist(), strict=True):
                if ok:
                    self._marks[contract.key] = mid

    def _mark(self, held: _Holding) -> float:
        return self._marks.get(held.contract.key, held.avg_cost)

    @staticmethod
    def _held(holdings: Sequence[_Holding], marks: Sequence[float]) -> list[HeldOption]:
        return [
            HeldOption(h.contract, h.quantity, h.avg_cost, m)
            for h, m in zip(holdings, marks, strict=True)
        ]

    def _unknown(self, order_ref: str, action: str) -> OrderState:
        return OrderState(
            order_ref=order_ref,
            status=OrderStatus.REJECTED,
            filled_quantity=0,
            remaining_quantity=0,
            avg_fill_price=None,
            time=self._now or _EPOCH,
            message=f"cannot {action}: unknown order_ref {order_ref!r}",
        )

    def _price_problem(self, order: ComboOrder, limit_price: float) -> str | None:
        if not math.isfinite(limit_price):
            return f"limit price {limit_price!r} is not a number"
        if abs(limit_price * 100.0 - round(limit_price * 100.0)) > 1e-6:
            return f"limit price {limit_price!r} is not a whole cent"
        step = math.gcd(*(abs(leg.ratio) for leg in order.legs))
        if to_cents(limit_price) % step:
            return f"limit price {limit_price!r} cannot be split over leg ratios of {step}"
        return None

    def _rejection(self, order: ComboOrder) -> str | None:
        """Why a new order is rejected, or None when it is accepted."""
        if not self.faults.connected:
            return "not connected to the broker"
        injected = self.faults.take_reject()
        if injected is not None:
            return injected
        probability = self.settings.reject_probability
        if probability > 0 and self._rng.random() < probability:
            return "simulated rejection"
        if order.quantity <= 0:
            return f"quantity must be positive, got {order.quantity}"
        underlyings = {leg.contract.underlying for leg in order.legs}
        if underlyings != {order.underlying}:
            return f"legs on {sorted(underlyings)} do not all match {order.underlying}"
        problem = self._price_problem(order, order.limit_price)
        if problem is not None:
            return problem
        if order.intent is OrderIntent.OPEN:
            return self._buying_power_problem(order)
        return None

    def _buying_power_problem(self, order: ComboOrder) -> str | None:
        """Reject when filling this and every working opening order leaves negative BP."""
        holdings = list(self._ledger.holdings.values())
        marks = [self._mark(h) for h in holdings]
        held = self._held(holdings, marks)
        value = sum(
            h.quantity * m * h.contract.multiplier for h, m in zip(holdings, marks, strict=True)
        )
        net_liq = self._ledger.cash_cents / 100.0 + value
        pending = [
            w.order.with_limit(w.limit_price)
            for w in self._working()
            if w.order.intent is OrderIntent.OPEN and w.order.order_ref != order.order_ref
        ]
        for candidate, units in [(o, o.quantity) for o in pending] + [(order, order.quantity)]:
            held.extend(self._hypothetical(candidate, units))
        margin = maintenance_margin(held, self._spots)
        if net_liq - margin < -_PRICE_EPS:
            return (
                f"insufficient buying power: requires {margin:,.2f} of margin, "
                f"net liquidation is {net_liq:,.2f}"
            )
        return None

    def _hypothetical(self, order: ComboOrder, units: int) -> list[HeldOption]:
        """The holdings ``units`` of ``order`` would add if filled at its limit."""
        ratio = np.array([leg.ratio for leg in order.legs], dtype=np.int64)
        contracts = [leg.contract for leg in order.legs]
        bid, ask, usable = self.quotes_for(order, self._last_market)
        known = np.array([self._marks.get(c.key, 0.0) for c in contracts])
        mids = np.where(usable, (bid + ask) / 2.0, known)
        half = np.where(usable, (ask - bid) / 2.0, 0.0)
        cents = split_combo_price(to_cents(order.limit_price), ratio, mids, half)
        if cents is None:  # estimation only: put the whole price on the first leg
            cents = np.zeros(ratio.size, dtype=np.int64)
            cents[0] = to_cents(order.limit_price) // int(ratio[0])
        return [
            HeldOption(leg.contract, leg.ratio * units, c / 100.0, c / 100.0)
            for leg, c in zip(order.legs, cents, strict=True)
        ]
