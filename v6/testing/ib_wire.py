"""The TWS API text wire protocol at server version 178, as ib_async 2.1.0 speaks it.

Framing (4-byte big-endian length, ``\\0``-terminated text fields), the contract records
the fake gateway quotes and trades, the exact field layout of every message the gateway
sends (mirroring ``ib_async/decoder.py``) and a full parser of the ``placeOrder`` request
(mirroring ``ib_async/client.py``): a layout mistake shows up as a parse error or a wrong
value in a test, never as a silently shifted field.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import struct
from collections.abc import Sequence
from datetime import UTC, datetime

from attrs import field, frozen
from ib_async.order import OrderCondition

SERVER_VERSION = 178
MIN_CLIENT_VERSION = 157
# TWS's "unset double" on the wire (Java's Double.MAX_VALUE); ib_async maps it to 0 or unset.
UNSET_DOUBLE = 1.7976931348623157e308
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
# The conId TWS reports for a combo (BAG) contract in openOrder and execDetails.
BAG_CON_ID = 28812380

Field = str | int | float | bool | None


class WireError(ValueError):
    """A client message that does not have the layout ib_async 2.1.0 writes."""


# -- framing ------------------------------------------------------------------------------


def field_text(value: Field) -> str:
    """One field as TWS writes it: empty for None, ``1``/``0`` for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isinf(value):
            return "Infinite"
        return repr(value)
    return str(value)


def encode_frame(fields: Sequence[Field]) -> bytes:
    """A length-prefixed frame of ``\\0``-terminated fields."""
    body = "".join(field_text(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> list[str]:
    """The fields of the next frame; raises IncompleteReadError when the peer hangs up."""
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    text = (await reader.readexactly(size)).decode(errors="backslashreplace")
    fields = text.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


def tws_time(t: datetime) -> str:
    """A timestamp as TWS writes it in execDetails: ``YYYYMMDD HH:MM:SS zone``."""
    return f"{t.astimezone(UTC):%Y%m%d %H:%M:%S} UTC"


# -- contracts ----------------------------------------------------------------------------


def contract_id(
    symbol: str, sec_type: str, expiry: str = "", strike: float = 0.0, right: str = ""
) -> int:
    """A stable positive conId below 2**31 for a contract (same contract, same id, every run)."""
    key = f"{symbol}|{sec_type}|{expiry}|{strike:.4f}|{right}".encode()
    digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")
    return digest % (2**31 - 2) + 1


def _right(value: str) -> str:
    return {"CALL": "C", "PUT": "P"}.get(value.upper(), value.upper())


@frozen(slots=True)
class GatewayContract:
    """A contract the gateway knows, with the fields TWS reports for it."""

    con_id: int
    symbol: str
    sec_type: str
    expiry: str = ""  # YYYYMMDD for options
    strike: float = 0.0
    right: str = field(default="", converter=_right)  # "C" / "P" for options
    multiplier: str = ""
    exchange: str = "SMART"
    primary_exchange: str = ""
    currency: str = "USD"
    local_symbol: str = ""
    trading_class: str = ""

    @property
    def multiplier_value(self) -> float:
        """Contract multiplier as a number (1 for stocks and indices)."""
        return float(self.multiplier) if self.multiplier else 1.0

    def wire(self) -> list[Field]:
        """The 11 contract fields of openOrder, execDetails and position."""
        return [
            self.con_id,
            self.symbol,
            self.sec_type,
            self.expiry,
            self.strike,
            self.right,
            self.multiplier,
            self.exchange,
            self.currency,
            self.local_symbol,
            self.trading_class,
        ]

    def portfolio_wire(self) -> list[Field]:
        """The 11 contract fields of portfolioValue (primary exchange instead of exchange)."""
        fields = self.wire()
        fields[7] = self.primary_exchange
        return fields


PRIMARY_EXCHANGE = {"SPY": "ARCA", "IWM": "ARCA", "QQQ": "NASDAQ"}


def stock(symbol: str) -> GatewayContract:
    """An ETF or stock on SMART, primary exchange as IB lists it."""
    return GatewayContract(
        con_id=contract_id(symbol, "STK"),
        symbol=symbol,
        sec_type="STK",
        primary_exchange=PRIMARY_EXCHANGE.get(symbol, "NYSE"),
        local_symbol=symbol,
        trading_class=symbol,
    )


def index(symbol: str, exchange: str = "CBOE") -> GatewayContract:
    """An index (VIX): quoted, not traded."""
    return GatewayContract(
        con_id=contract_id(symbol, "IND"),
        symbol=symbol,
        sec_type="IND",
        exchange=exchange,
        local_symbol=symbol,
    )


def future(
    symbol: str, expiry: str, exchange: str = "CME", multiplier: str = "50"
) -> GatewayContract:
    """An index future (ES by default) for the quarterly ``expiry`` (YYYYMMDD)."""
    return GatewayContract(
        con_id=contract_id(symbol, "FUT", expiry),
        symbol=symbol,
        sec_type="FUT",
        expiry=expiry,
        multiplier=multiplier,
        exchange=exchange,
        local_symbol=f"{symbol}{'HMUZ'[(int(expiry[4:6]) - 1) // 3]}{expiry[3]}",
        trading_class=symbol,
    )


def option(symbol: str, expiry: str, strike: float, right: str) -> GatewayContract:
    """An equity option on SMART with its OCC local symbol."""
    right = _right(right)
    occ = f"{symbol:<6}{expiry[2:]}{right}{round(strike * 1000):08d}"
    return GatewayContract(
        con_id=contract_id(symbol, "OPT", expiry, strike, right),
        symbol=symbol,
        sec_type="OPT",
        expiry=expiry,
        strike=float(strike),
        right=right,
        multiplier="100",
        local_symbol=occ,
        trading_class=symbol,
    )


def bag(symbol: str) -> GatewayContract:
    """The combo contract TWS reports for a BAG order and its combo-level executions."""
    return GatewayContract(con_id=BAG_CON_ID, symbol=symbol, sec_type="BAG")


# -- the placeOrder request ---------------------------------------------------------------


@frozen(slots=True)
class PlacedLeg:
    """One combo leg as the client sent it (8 fields on the wire)."""

    con_id: int
    ratio: int
    action: str
    exchange: str
    open_close: int = 0
    short_sale_slot: int = 0
    designated_location: str = ""
    exempt_code: int = -1


@frozen(slots=True)
class PlacedOrder:
    """A fully parsed placeOrder message (``values`` holds every named field)."""

    order_id: int
    con_id: int
    symbol: str
    sec_type: str
    expiry: str
    strike: float
    right: str
    exchange: str
    currency: str
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    what_if: bool
    legs: tuple[PlacedLeg, ...]
    values: dict[str, str]


def _float_or_none(text: str) -> float | None:
    return float(text) if text not in ("", UNSET_DOUBLE_TEXT) else None


class _Cursor:
    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = fields
        self.i = 0
        self.values: dict[str, str] = {}

    def next(self) -> str:
        if self.i >= len(self.fields):
            raise WireError(f"placeOrder ended early at field {self.i}")
        value = self.fields[self.i]
        self.i += 1
        return value

    def named(self, *names: str) -> None:
        for name in names:
            self.values[name] = self.next()

    def count(self, name: str) -> int:
        text = self.next()
        self.values[name] = text
        try:
            return int(text or 0)
        except ValueError as e:
            raise WireError(
                f"placeOrder field {self.i - 1} ({name}) is not a count: {text!r}"
            ) from e


CONTRACT_FIELDS = (
    "conId",
    "symbol",
    "secType",
    "lastTradeDateOrContractMonth",
    "strike",
    "right",
    "multiplier",
    "exchange",
    "primaryExchange",
    "currency",
    "localSymbol",
    "tradingClass",
)


def parse_place_order(fields: Sequence[str], server_version: int = SERVER_VERSION) -> PlacedOrder:
    """Parse placeOrder exactly as ``ib_async.client.Client.placeOrder`` writes it.

    Every field is consumed in order; a message longer or shorter than the layout allows
    raises :class:`WireError`, so a client/gateway mismatch cannot pass unnoticed.
    """
    c = _Cursor(fields)
    c.named("msgId", "orderId", *CONTRACT_FIELDS, "secIdType", "secId")
    c.named("action", "totalQuantity", "orderType", "lmtPrice", "auxPrice", "tif")
    c.named("ocaGroup", "account", "openClose", "origin", "orderRef", "transmit", "parentId")
    c.named("blockOrder", "sweepToFill", "displaySize", "triggerMethod", "outsideRth", "hidden")
    legs: list[PlacedLeg] = []
    if c.values["secType"] == "BAG":
        for _ in range(c.count("comboLegsCount")):
            conid, ratio, action, exchange, oc, slot, loc, exempt = (c.next() for _ in range(8))
            legs.append(
                PlacedLeg(
                    con_id=int(conid),
                    ratio=int(ratio),
                    action=action,
                    exchange=exchange,
                    open_close=int(oc or 0),
                    short_sale_slot=int(slot or 0),
                    designated_location=loc,
                    exempt_code=int(exempt or -1),
                )
            )
        for k in range(c.count("orderComboLegsCount")):
            c.named(f"orderComboLegPrice{k}")
        for k in range(c.count("smartComboRoutingParamsCount")):
            c.named(f"smartComboTag{k}", f"smartComboValue{k}")
    c.named("sharesAllocation", "discretionaryAmt", "goodAfterTime", "goodTillDate")
    c.named("faGroup", "faMethod", "faPercentage")
    if server_version < 177:
        c.named("faProfile")
    c.named("modelCode", "shortSaleSlot", "designatedLocation", "exemptCode", "ocaType")
    c.named("rule80A", "settlingFirm", "allOrNone", "minQty", "percentOffset", "eTradeOnly")
    c.named("firmQuoteOnly", "nbboPriceCap", "auctionStrategy", "startingPrice", "stockRefPrice")
    c.named("delta", "stockRangeLower", "stockRangeUpper", "overridePercentageConstraints")
    c.named("volatility", "volatilityType", "deltaNeutralOrderType", "deltaNeutralAuxPrice")
    if c.values["deltaNeutralOrderType"]:
        c.named("deltaNeutralConId", "deltaNeutralSettlingFirm", "deltaNeutralClearingAccount")
        c.named("deltaNeutralClearingIntent", "deltaNeutralOpenClose", "deltaNeutralShortSale")
        c.named("deltaNeutralShortSaleSlot", "deltaNeutralDesignatedLocation")
    c.named("continuousUpdate", "referencePriceType", "trailStopPrice", "trailingPercent")
    c.named("scaleInitLevelSize", "scaleSubsLevelSize", "scalePriceIncrement")
    increment = _float_or_none(c.values["scalePriceIncrement"])
    if increment is not None and 0 < increment < UNSET_DOUBLE:
        c.named("scalePriceAdjustValue", "scalePriceAdjustInterval", "scaleProfitOffset")
        c.named("scaleAutoReset", "scaleInitPosition", "scaleInitFillQty", "scaleRandomPercent")
    c.named("scaleTable", "activeStartTime", "activeStopTime", "hedgeType")
    if c.values["hedgeType"]:
        c.named("hedgeParam")
    c.named("optOutSmartRouting", "clearingAccount", "clearingIntent", "notHeld")
    if c.count("deltaNeutralContractPresent"):
        c.named("dncConId", "dncDelta", "dncPrice")
    c.named("algoStrategy")
    if c.values["algoStrategy"]:
        for k in range(c.count("algoParamsCount")):
            c.named(f"algoTag{k}", f"algoValue{k}")
    c.named("algoId", "whatIf", "orderMiscOptions", "solicited", "randomizeSize", "randomizePrice")
    order_type = c.values["orderType"]
    if order_type in {"PEG BENCH", "PEGBENCH"}:
        c.named("referenceContractId", "isPeggedChangeAmountDecrease", "peggedChangeAmount")
        c.named("referenceChangeAmount", "referenceExchangeId")
    conditions = c.count("conditionsCount")
    for k in range(conditions):
        cond_type = int(c.fields[c.i]) if c.i < len(c.fields) else 0
        size = len(dataclasses.fields(OrderCondition.createClass(cond_type)))
        for j in range(size):
            c.named(f"condition{k}_{j}")
    if conditions:
        c.named("conditionsIgnoreRth", "conditionsCancelOrder")
    c.named("adjustedOrderType", "triggerPrice", "lmtPriceOffset", "adjustedStopPrice")
    c.named("adjustedStopLimitPrice", "adjustedTrailingAmount", "adjustableTrailingUnit")
    c.named("extOperator", "softDollarTierName", "softDollarTierValue", "cashQty")
    c.named("mifid2DecisionMaker", "mifid2DecisionAlgo", "mifid2ExecutionTrader")
    c.named("mifid2ExecutionAlgo", "dontUseAutoPriceForHedge", "isOmsContainer")
    c.named("discretionaryUpToLimitPrice", "usePriceMgmtAlgo")
    for version, name in (
        (158, "duration"),
        (160, "postToAts"),
        (162, "autoCancelParent"),
        (166, "advancedErrorOverride"),
        (169, "manualOrderTime"),
    ):
        if server_version >= version:
            c.named(name)
    if server_version >= 170:
        if c.values["exchange"] == "IBKRATS":
            c.named("minTradeQty")
        if order_type in {"PEG BEST", "PEGBEST"}:
            c.named("minCompeteSize", "competeAgainstBestOffset")
            if c.values["competeAgainstBestOffset"] == "Infinite":
                c.named("midOffsetAtWhole", "midOffsetAtHalf")
        elif order_type in {"PEG MID", "PEGMID"}:
            c.named("midOffsetAtWhole", "midOffsetAtHalf")
    if c.i != len(fields):
        raise WireError(f"placeOrder has {len(fields)} fields, the layout ends at {c.i}")
    v = c.values
    return PlacedOrder(
        order_id=int(v["orderId"]),
        con_id=int(v["conId"] or 0),
        symbol=v["symbol"],
        sec_type=v["secType"],
        expiry=v["lastTradeDateOrContractMonth"],
        strike=float(v["strike"] or 0.0),
        right=_right(v["right"]),
        exchange=v["exchange"],
        currency=v["currency"],
        action=v["action"],
        quantity=float(v["totalQuantity"] or 0.0),
        order_type=order_type,
        limit_price=_float_or_none(v["lmtPrice"]),
        aux_price=_float_or_none(v["auxPrice"]),
        tif=v["tif"],
        account=v["account"],
        order_ref=v["orderRef"],
        transmit=v["transmit"] != "0",
        parent_id=int(v["parentId"] or 0),
        what_if=v["whatIf"] == "1",
        legs=tuple(legs),
        values=v,
    )


# -- messages the gateway sends -----------------------------------------------------------


def handshake(now: datetime) -> list[Field]:
    """The server's first frame: version and connection time (exactly two fields)."""
    return [SERVER_VERSION, f"{now.astimezone(UTC):%Y%m%d %H:%M:%S} UTC"]


def error_message(req_id: int, code: int, text: str, advanced_json: str = "") -> list[Field]:
    """error (4): the advancedOrderRejectJson field is required from version 166 on."""
    return [4, 2, req_id, code, text, advanced_json]


def order_status(
    order_id: int,
    status: str,
    filled: float,
    remaining: float,
    avg_fill_price: float,
    perm_id: int,
    client_id: int,
    last_fill_price: float = 0.0,
    parent_id: int = 0,
) -> list[Field]:
    """orderStatus (3), no version field: 12 fields."""
    return [
        3,
        order_id,
        status,
        float(filled),
        float(remaining),
        float(avg_fill_price),
        perm_id,
        parent_id,
        float(last_fill_price),
        client_id,
        "",
        0.0,
    ]


@frozen(slots=True)
class OpenOrderView:
    """What openOrder reports about one order."""

    order_id: int
    client_id: int
    perm_id: int
    contract: GatewayContract
    legs: tuple[PlacedLeg, ...]
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str
    status: str
    parent_id: int = 0
    # For a what-if answer: (init, maint, equity with loan) before, change and after.
    what_if_margin: tuple[float, ...] | None = None


def open_order(o: OpenOrderView) -> list[Field]:
    """openOrder (5) at version 178, field for field as ``decoder.openOrder`` reads it.

    Count fields (combo legs, order combo legs, smart-combo params, delta-neutral flag,
    conditions) are ``0``, never empty: ib_async converts them with ``int()``.
    """
    fields: list[Field] = [5, o.order_id, *o.contract.wire()]
    fields += [o.action, float(o.quantity), o.order_type, o.limit_price, o.aux_price, o.tif]
    # ocaGroup, account, openClose, origin, orderRef, clientId, permId, outsideRth, hidden,
    # discretionaryAmt, goodAfterTime, sharesAllocation, faGroup, faMethod, faPercentage
    fields += ["", o.account, "", 0, o.order_ref, o.client_id, o.perm_id, 0, 0, 0.0, "", ""]
    fields += ["", "", ""]
    # modelCode .. deltaNeutralAuxPrice (29 fields); deltaNeutralOrderType empty
    fields += ["", "", "", "", "", 0, "", -1, 0, None, None, None, None, None, None]
    fields += [0, 0, 0, None, 0, 0, 0, None, o.parent_id, 0, None, None, "", None]
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent, basisPoints,
    # basisPointsType, comboLegsDescrip
    fields += [0, None, None, None, None, None, ""]
    fields += [len(o.legs)]
    for leg in o.legs:
        fields += [leg.con_id, leg.ratio, leg.action, leg.exchange, leg.open_close]
        fields += [leg.short_sale_slot, leg.designated_location, leg.exempt_code]
    fields += [0, 0]  # order combo leg prices, smart combo routing params
    fields += [None, None, None]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
    fields += [""]  # hedgeType
    fields += [0, "", "", 0, 0]  # optOutSmartRouting, clearing x2, notHeld, dnc present
    fields += [""]  # algoStrategy
    # solicited, whatIf, status, 9 margin fields, commission x3, currency, warning, randomize x2
    margin = o.what_if_margin
    fields += [0, margin is not None, o.status]
    fields += [""] * 9 if margin is None else [f"{m:.2f}" for m in margin]
    commission = None if margin is None else 1.3
    fields += [commission, commission, commission, "USD" if margin else "", "", 0, 0]
    fields += [0]  # conditions
    # adjustedOrderType .. usePriceMgmtAlgo (16 fields)
    fields += ["", None, None, None, None, None, None, 0, "", "", "", None, 0, 0, 0, ""]
    fields += [None, 0, 0]  # duration, postToAts, autoCancelParent
    fields += [None, None, None, None, None]  # minTradeQty .. midOffsetAtHalf
    return fields


def completed_order(
    o: OpenOrderView, filled: float, completed_time: datetime, completed_status: str
) -> list[Field]:
    """completedOrder (101) at version 178, no order id, field for field as
    ``decoder.completedOrder`` reads it.

    As in TWS, the filled quantity travels in the order (``filledQuantity``): there is no
    order status, so ib_async's ``Trade.orderStatus.filled`` stays 0.
    """
    fields: list[Field] = [101, *o.contract.wire()]
    fields += [o.action, float(o.quantity), o.order_type, o.limit_price, o.aux_price, o.tif]
    # ocaGroup, account, openClose, origin, orderRef, permId, outsideRth, hidden,
    # discretionaryAmt, goodAfterTime, faGroup, faMethod, faPercentage
    fields += ["", o.account, "", 0, o.order_ref, o.perm_id, 0, 0, 0.0, "", "", "", ""]
    # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm, shortSaleSlot,
    # designatedLocation, exemptCode, startingPrice, stockRefPrice, delta,
    # stockRangeLower, stockRangeUpper, displaySize, sweepToFill, allOrNone, minQty,
    # ocaType, triggerMethod, volatility, volatilityType, deltaNeutralOrderType (empty),
    # deltaNeutralAuxPrice
    fields += ["", "", "", None, "", 0, "", -1, None, None, None, None, None, 0, 0, 0]
    fields += [None, 0, 0, None, None, "", None]
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent, comboLegsDescrip
    fields += [0, None, None, None, ""]
    fields += [len(o.legs)]
    for leg in o.legs:
        fields += [leg.con_id, leg.ratio, leg.action, leg.exchange, leg.open_close]
        fields += [leg.short_sale_slot, leg.designated_location, leg.exempt_code]
    fields += [0, 0]  # order combo leg prices, smart combo routing params
    fields += [None, None, None]  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
    fields += [""]  # hedgeType
    fields += ["", "", 0, 0]  # clearingAccount, clearingIntent, notHeld, dnc present
    fields += [""]  # algoStrategy
    fields += [0, o.status, 0, 0]  # solicited, status, randomizeSize, randomizePrice
    fields += [0]  # conditions
    # trailStopPrice, lmtPriceOffset, cashQty, dontUseAutoPriceForHedge, isOmsContainer,
    # autoCancelDate, filledQuantity, refFuturesConId, autoCancelParent, shareholder,
    # imbalanceOnly, routeMarketableToBbo, parentPermId, completedTime, completedStatus
    fields += [None, None, None, 0, 0, "", float(filled), 0, 0, "", 0, 0, 0]
    fields += [tws_time(completed_time), completed_status]
    fields += [None, None, None, None, None]  # minTradeQty .. midOffsetAtHalf
    return fields


def exec_details(
    req_id: int,
    order_id: int,
    contract: GatewayContract,
    exec_id: str,
    time: datetime,
    account: str,
    side: str,
    shares: float,
    price: float,
    perm_id: int,
    client_id: int,
    cum_qty: float,
    avg_price: float,
    order_ref: str,
) -> list[Field]:
    """execDetails (11), no version field: 32 fields at version 178."""
    return [
        11,
        req_id,
        order_id,
        *contract.wire(),
        exec_id,
        tws_time(time),
        account,
        "CBOE" if contract.sec_type == "OPT" else contract.exchange,
        side,
        float(shares),
        float(price),
        perm_id,
        client_id,
        0,
        float(cum_qty),
        float(avg_price),
        order_ref,
        "",
        None,
        "",
        2,
        0,
    ]


def commission_report(exec_id: str, commission: float, realized_pnl: float | None) -> list[Field]:
    """commissionReport (59): realized P&L is TWS's unset double on an opening fill."""
    pnl: Field = UNSET_DOUBLE_TEXT if realized_pnl is None else float(realized_pnl)
    return [59, 1, exec_id, float(commission), "USD", pnl, UNSET_DOUBLE_TEXT, ""]


def position_message(
    account: str, contract: GatewayContract, qty: float, avg_cost: float
) -> list[Field]:
    """position (61), version 3: exactly 16 fields."""
    return [61, 3, account, *contract.wire(), float(qty), float(avg_cost)]


def portfolio_value(
    account: str,
    contract: GatewayContract,
    qty: float,
    market_price: float,
    avg_cost: float,
    realized_pnl: float,
) -> list[Field]:
    """portfolioValue (7), version 8: exactly 20 fields."""
    value = qty * market_price * contract.multiplier_value
    unrealized = value - qty * avg_cost
    return [
        7,
        8,
        *contract.portfolio_wire(),
        float(qty),
        float(market_price),
        float(value),
        float(avg_cost),
        float(unrealized),
        float(realized_pnl),
        account,
    ]


def contract_details(
    req_id: int, c: GatewayContract, under_con_id: int, long_name: str
) -> list[Field]:
    """contractDetails (10) from version 164 on: no version field, 40 fields."""
    return [
        10,
        req_id,
        c.symbol,
        c.sec_type,
        c.expiry,
        c.strike,
        c.right,
        c.exchange,
        c.currency,
        c.local_symbol,
        c.trading_class,  # marketName
        c.trading_class,
        c.con_id,
        0.01,  # minTick
        c.multiplier,
        "ACTIVETIM,ADJUST,ALERT,ALLOC,COMBOLMT,DAY,GTC,LMT,MKT,REL",  # orderTypes
        "SMART,CBOE,AMEX,ISE,PHLX" if c.sec_type == "OPT" else "SMART," + c.primary_exchange,
        1,  # priceMagnifier
        under_con_id,
        long_name,
        c.primary_exchange,
        c.expiry[:6],  # contractMonth
        "",
        "",
        "",
        "US/Eastern",
        "",  # tradingHours
        "",  # liquidHours
        "",  # evRule
        None,  # evMultiplier
        0,  # secIdList count
        1,  # aggGroup
        c.symbol if c.sec_type == "OPT" else "",  # underSymbol
        "STK" if c.sec_type == "OPT" else "",  # underSecType
        "26",  # marketRuleIds
        c.expiry,  # realExpirationDate
        "ETF" if c.sec_type == "STK" else "",  # stockType
        1.0,  # minSize
        1.0,  # sizeIncrement
        1.0,  # suggestedSizeIncrement
    ]


def option_parameters(
    req_id: int,
    under_con_id: int,
    symbol: str,
    expirations: Sequence[str],
    strikes: Sequence[float],
) -> list[Field]:
    """securityDefinitionOptionParameter (75), no version field."""
    return [
        75,
        req_id,
        "SMART",
        under_con_id,
        symbol,
        "100",
        len(expirations),
        *expirations,
        len(strikes),
        *[float(s) for s in strikes],
    ]


def tick_price(req_id: int, tick_type: int, price: float, size: float) -> list[Field]:
    """tickPrice (1), version 6: tick type 1 bid, 2 ask, 4 last; attribute mask 0."""
    return [1, 6, req_id, tick_type, float(price), float(size), 0]


def tick_size(req_id: int, tick_type: int, size: float) -> list[Field]:
    """tickSize (2), version 6."""
    return [2, 6, req_id, tick_type, float(size)]


# IB's "not computed" sentinels for tickOptionComputation: -1 for implied vol, option price,
# PV dividend and underlying price; -2 for delta, gamma, vega and theta.
NOT_COMPUTED = (-1.0, -2.0, -1.0, -1.0, -2.0, -2.0, -2.0, -1.0)


def tick_option_computation(
    req_id: int, tick_type: int, values: Sequence[float] | None
) -> list[Field]:
    """tickOptionComputation (21), no version field: ``values`` in wire order
    (iv, delta, optPrice, pvDividend, gamma, vega, theta, undPrice), None = not computed."""
    numbers = NOT_COMPUTED if values is None else tuple(float(v) for v in values)
    return [21, req_id, tick_type, 0, *numbers]
