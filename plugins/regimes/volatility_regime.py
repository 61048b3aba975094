"""Six market regimes per underlying from VIX, the IV term structure, realised vs implied
volatility and trend strength, with hysteresis so a regime does not flap between cycles.

Evidence, each with its own hysteresis (a Schmitt trigger: enter at the threshold, leave
only once clearly past it):

- VIX level sorts crash / high_vol / normal / low_vol; a band is only left once VIX is
  ``hysteresis`` points past its edge. A sudden VIX jump (``jump_fraction`` over the low
  of the last ``jump_window`` cycles) is a crash before the level gets there.
- The underlying's own ATM implied-vol term structure, near expiry (at least
  ``term_near_min_dte`` days) over a far one (nearest ``term_far_dte``, at least
  ``term_far_min_dte``). Options are normally dearer far out; when the near month costs
  ``term_backwardation`` times the far one the market is paying up for protection now,
  which is stress: high_vol. ``term_crash_ratio`` of backwardation with VIX already at
  high_vol levels is a crash.
- Realised volatility (intraday steps only) ``realised_to_implied_high`` times the ATM
  implied: premium sold there is underpriced, so high_vol even while VIX is calm.
- Optional, off by default: the index future leading the ETF (``market.futures``). With
  ``futures_overnight_drop_pct`` set, a future down at least that many percent since the
  previous regular close (ES for SPY, NQ for QQQ, RTY for IWM) is stress: high_vol. The
  futures trade all night, so a gap is seen before the ETF opens into it.
- Trend strength over the last ``trend_window`` intraday steps: the t-statistic of the
  net log return (net / (per-step sd x sqrt(n))) and Kaufman's efficiency ratio
  |net| / sum |step|. Trending needs both (``trend_t`` and ``trend_efficiency``); range
  bound needs a low efficiency and a small t. Overnight and weekend gaps are left out,
  as for realised volatility: a gap is news arriving while the market is shut, and
  counting it would turn one Monday gap into a "trend" of one step. For Gaussian steps
  the efficiency is about 1.25 |t| / sqrt(n), so at the default 26-step window the t-test
  is the binding one; the efficiency test binds on longer windows (a slow drift buried
  in chop) and the t-test guards against a single jump, whose efficiency looks high.

Precedence, most severe first: crash > high_vol > trending > low_vol > range_bound >
normal. The first two are about volatility risk, which can take a short-premium book's
whole loss budget in a session, so they override everything. Trending comes next: for a
short-premium position direction is the risk that remains when volatility is tame, and a
market walking away from the strikes is still doing so in low VIX (a low-VIX grind is the
classic trend). Low_vol beats range_bound because it is the binding constraint for a
premium seller: a quiet, range-bound tape is only worth selling if the premium pays, and
low VIX says it does not (and that vol is near its floor, from where it spikes); it is
also the stronger evidence, the market's own 30-day forward-looking price, where
range_bound is one session of backward-looking path. Normal is what is left.

Dwell: escalation into crash or high_vol happens at once (safety). Any other change,
including the step down from crash to high_vol, only happens once the new classification
has held for ``min_dwell_cycles`` consecutive cycles. The detector stays a pure function
of its arguments: the pending candidate, its cycle count and the evidence states live in
the previous reading's ``inputs`` (regimes encoded as indices into :data:`PRECEDENCE`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from attrs import field, frozen, validators

from v6.domain.decisions import Regime, RegimeReading
from v6.domain.futures import FuturesReading
from v6.domain.market import MarketHistory, MarketView, OptionChain, mean_at_the_money
from v6.domain.plugins import PluginInfo, PluginKind
from v6.hookspecs import hookimpl

NAME = "volatility_regime"
TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600.0
# Most severe first. Also the fixed code table for regimes stored in ``inputs``: the
# index of a regime here is its code, so never reorder, only append.
PRECEDENCE: tuple[Regime, ...] = (
    Regime.CRASH,
    Regime.HIGH_VOL,
    Regime.TRENDING,
    Regime.LOW_VOL,
    Regime.RANGE_BOUND,
    Regime.NORMAL,
)
SEVERE = frozenset({Regime.CRASH, Regime.HIGH_VOL})
GAP_CYCLES = 2.0  # a step longer than this many typical cycles spans a night or weekend
# Cycles this far apart are one per session (end-of-day data): each step is a trading day
# (annualised by 252), and steps up to a long weekend apart still count.
DAILY_STEP_SECONDS = 12 * 3600.0
MAX_SESSION_GAP_SECONDS = 5 * 86400.0
TRADING_DAYS_PER_YEAR = 252


@frozen
class Settings:
    """Thresholds of every piece of evidence, their hysteresis margins and the dwell.

    VIX values are in points; windows, sample counts and dwell count engine cycles;
    DTEs are calendar days; ratios are plain numbers (1.10 = 10% above).

    Attributes:
        crash_vix: VIX at or above this is a crash.
        high_vol_vix: VIX at or above this is high_vol.
        low_vol_vix: VIX at or below this is low_vol.
        jump_fraction: VIX this share above its low of the last ``jump_window`` cycles
            is a crash before the level gets there.
        jump_window: cycles over which the VIX low for a jump is taken.
        hysteresis: VIX points past a band's edge before the band is left.
        realised_window: intraday steps over which realised volatility is measured.
        min_realised_samples: fewest steps before realised volatility counts.
        realised_to_implied_high: realised volatility this many times the ATM implied is
            high_vol.
        realised_hysteresis: how far the ratio must fall back below
            ``realised_to_implied_high`` to leave it.
        term_near_min_dte: the near expiry of the term structure has at least this many
            calendar days.
        term_far_min_dte: the far expiry has at least this many calendar days.
        term_far_dte: the far expiry is the one nearest this many calendar days.
        term_backwardation: near ATM IV this many times the far one is high_vol.
        term_crash_ratio: backwardation this steep with VIX at high_vol levels is a crash.
        term_hysteresis: how far the ratio must fall back below ``term_backwardation``
            to leave it.
        trend_window: intraday steps over which trend strength is measured.
        min_trend_samples: fewest steps before trend strength counts.
        trend_t: trending needs the t-statistic of the net return at least this.
        trend_t_hysteresis: margin on ``trend_t`` (and ``range_t``) to leave trending
            (or range_bound).
        trend_efficiency: trending also needs an efficiency ratio at least this.
        range_efficiency: range_bound needs an efficiency ratio at most this.
        range_t: range_bound also needs the t-statistic at most this.
        efficiency_hysteresis: margin on the efficiency thresholds to leave a regime.
        min_dwell_cycles: cycles a calmer classification must hold before it is
            adopted (escalation into crash or high_vol is immediate).
        futures_overnight_drop_pct: when set, the ETF's future down at least this many
            percent since the previous regular close is high_vol; None (the default)
            leaves the futures out.
    """

    crash_vix: float = field(default=35.0, validator=validators.gt(0))
    high_vol_vix: float = field(default=25.0, validator=validators.gt(0))
    low_vol_vix: float = field(default=13.0, validator=validators.gt(0))
    jump_fraction: float = field(default=0.30, validator=validators.gt(0))
    jump_window: int = field(default=8, validator=validators.gt(0))
    hysteresis: float = field(default=1.0, validator=validators.ge(0))
    realised_window: int = field(default=26, validator=validators.ge(2))
    min_realised_samples: int = field(default=12, validator=validators.ge(2))
    realised_to_implied_high: float = field(default=1.5, validator=validators.gt(1))
    realised_hysteresis: float = field(default=0.2, validator=validators.ge(0))
    term_near_min_dte: int = field(default=5, validator=validators.ge(1))
    term_far_min_dte: int = field(default=30, validator=validators.ge(2))
    term_far_dte: int = field(default=50, validator=validators.ge(2))
    term_backwardation: float = field(default=1.10, validator=validators.gt(1))
    term_crash_ratio: float = field(default=1.50, validator=validators.gt(1))
    term_hysteresis: float = field(default=0.05, validator=validators.ge(0))
    trend_window: int = field(default=26, validator=validators.ge(3))
    min_trend_samples: int = field(default=20, validator=validators.ge(3))
    trend_t: float = field(default=2.5, validator=validators.gt(0))
    trend_t_hysteresis: float = field(default=0.5, validator=validators.ge(0))
    trend_efficiency: float = field(
        default=0.35, validator=validators.and_(validators.gt(0), validators.le(1))
    )
    range_efficiency: float = field(
        default=0.15, validator=validators.and_(validators.gt(0), validators.lt(1))
    )
    range_t: float = field(default=1.0, validator=validators.gt(0))
    efficiency_hysteresis: float = field(default=0.05, validator=validators.ge(0))
    min_dwell_cycles: int = field(default=3, validator=validators.ge(1))
    futures_overnight_drop_pct: float | None = field(
        default=None,
        validator=validators.optional([validators.gt(0), validators.le(50)]),
    )

    def __attrs_post_init__(self) -> None:
        if not self.low_vol_vix < self.high_vol_vix < self.crash_vix:
            raise ValueError("need low_vol_vix < high_vol_vix < crash_vix")
        if self.term_backwardation - self.term_hysteresis <= 1.0:
            raise ValueError("need term_backwardation - term_hysteresis > 1 (1 = a flat curve)")
        if not self.term_backwardation < self.term_crash_ratio:
            raise ValueError("need term_backwardation < term_crash_ratio")
        if not self.term_near_min_dte < self.term_far_min_dte <= self.term_far_dte:
            raise ValueError("need term_near_min_dte < term_far_min_dte <= term_far_dte")
        if self.min_trend_samples > self.trend_window:
            raise ValueError("need min_trend_samples <= trend_window")
        if not self.range_t < self.trend_t - self.trend_t_hysteresis:
            raise ValueError("need range_t < trend_t - trend_t_hysteresis")
        if not (
            self.range_efficiency + self.efficiency_hysteresis
            < self.trend_efficiency - self.efficiency_hysteresis
        ):
            raise ValueError(
                "need range_efficiency + efficiency_hysteresis"
                " < trend_efficiency - efficiency_hysteresis"
            )


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """The regime detector; its settings are validated by :class:`Settings`."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.REGIME,
        settings=Settings,
        summary="VIX bands and jumps, IV term structure, realised vs implied vol, trend "
        "strength; hysteresis and dwell",
    )


# -- VIX -----------------------------------------------------------------------------------


def _band(vix: float, settings: Settings, shift: float = 0.0) -> Regime:
    if vix >= settings.crash_vix + shift:
        return Regime.CRASH
    if vix >= settings.high_vol_vix + shift:
        return Regime.HIGH_VOL
    if vix <= settings.low_vol_vix + shift:
        return Regime.LOW_VOL
    return Regime.NORMAL


def vix_band(vix: float, previous: Regime | None, settings: Settings) -> Regime:
    """The VIX band (crash, high_vol, normal or low_vol), leaving ``previous`` only once
    VIX is ``settings.hysteresis`` points past its edge. A missing VIX keeps ``previous``
    (a broken feed is no evidence that stress has passed) and reads as normal on a fresh
    start (nor is it evidence of stress)."""
    if not math.isfinite(vix):
        return previous or Regime.NORMAL
    band = _band(vix, settings)
    if previous is not None and band is not previous:
        toward_lower = _band(vix, settings, shift=settings.hysteresis)
        toward_higher = _band(vix, settings, shift=-settings.hysteresis)
        if previous in (toward_lower, toward_higher):
            return previous
    return band


def vix_jump(vix: float, recent_low: float) -> float:
    """VIX's rise over the window's low as a fraction (NaN when either is unknown)."""
    if not (math.isfinite(vix) and math.isfinite(recent_low) and recent_low > 0):
        return float("nan")
    return vix / recent_low - 1.0


# -- term structure ------------------------------------------------------------------------


def _atm_iv_at(chain: OptionChain, rows: np.ndarray) -> float:
    """ATM IV of one expiry's ``rows``: the put and call IV averaged at the strike nearest
    the forward, the forward read off put-call parity at the strike nearest spot (the
    spot itself when that pair is not quoted)."""
    idx = np.flatnonzero(rows)
    strikes = chain.strike[idx]
    at_spot = strikes == strikes[np.argmin(np.abs(strikes - chain.spot))]
    is_call = chain.is_call[idx]
    calls, puts = at_spot & is_call, at_spot & ~is_call
    forward = chain.spot
    if calls.any() and puts.any():
        # Undiscounted parity: the r*T*(C - P) it ignores is cents, far below a strike step.
        # Only the two quotes it needs are read (not the whole chain's mids).
        call, put = idx[np.argmax(calls)], idx[np.argmax(puts)]
        call_mid = (chain.bid[call] + chain.ask[call]) / 2.0
        put_mid = (chain.bid[put] + chain.ask[put]) / 2.0
        parity = strikes[np.argmax(at_spot)] + call_mid - put_mid
        if np.isfinite(parity) and parity > 0:
            forward = float(parity)
    distance = np.abs(strikes - forward)
    return mean_at_the_money(chain.iv[idx][distance == distance.min()])


def term_structure(chain: OptionChain, settings: Settings) -> tuple[float, int, int]:
    """Near-over-far ATM implied vol, with the two expiries' DTEs (NaN, 0, 0 if unmeasurable).

    Near is the first expiry at least ``term_near_min_dte`` out (the last days of an
    option are all gamma and event noise); far is the expiry nearest ``term_far_dte``
    among those at least ``term_far_min_dte`` out. Only valid quotes with a positive IV
    count. Above 1 the curve is inverted (backwardation).
    """
    ok = chain.valid & np.isfinite(chain.iv) & (chain.iv > 0) & np.isfinite(chain.strike)
    if not ok.any() or not math.isfinite(chain.spot) or chain.spot <= 0:
        return float("nan"), 0, 0
    # Expiries as calendar days out, one per option: an expiry is its DTE, so the two
    # expiries are picked from the DTEs of the valid quotes without sorting the chain.
    dte = (chain.expiry - np.datetime64(chain.as_of.date(), "D")).astype(np.int64)
    dtes = dte[ok]
    near_candidates = dtes[dtes >= settings.term_near_min_dte]
    far_candidates = dtes[dtes >= settings.term_far_min_dte]
    if near_candidates.size == 0 or far_candidates.size == 0:
        return float("nan"), 0, 0
    near = int(near_candidates.min())
    off = np.abs(far_candidates - settings.term_far_dte)
    far = int(far_candidates[off == off.min()].min())  # the nearer on a tie
    if far <= near:
        return float("nan"), 0, 0
    near_iv = _atm_iv_at(chain, ok & (dte == near))
    far_iv = _atm_iv_at(chain, ok & (dte == far))
    if not far_iv > 0:
        return float("nan"), 0, 0
    return near_iv / far_iv, near, far


# -- realised volatility and trend ---------------------------------------------------------


def intraday_steps(times: np.ndarray, spots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log returns and their durations (seconds) between consecutive cycles, oldest first,
    leaving out steps across an overnight or weekend gap (longer than twice the typical
    cycle) and steps touching a missing price."""
    return _steps(_seconds(times), spots)


def _seconds(times: np.ndarray) -> np.ndarray:
    """Cycle times as seconds (float), read once per call for every underlying."""
    return np.asarray(times, dtype="datetime64[us]").astype(np.int64) / 1e6


def _steps(
    seconds: np.ndarray, spots: np.ndarray, medians: dict[bytes, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`intraday_steps` from times already in seconds. ``medians`` keeps the
    typical step of each set of usable steps, so underlyings quoted on the same cycles
    (the usual case) share one median."""
    n = min(len(seconds), len(spots))
    if n < 2:
        return np.empty(0), np.empty(0)
    t = seconds[-n:]
    s = np.asarray(spots[-n:], dtype=np.float64)
    dt = np.diff(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.diff(np.log(s))
    ok = np.isfinite(r) & (dt > 0)
    if not ok.any():
        return np.empty(0), np.empty(0)
    if medians is None:
        typical = float(np.median(dt[ok]))
    else:
        key = ok.tobytes()
        typical = medians.get(key, math.nan)
        if math.isnan(typical):
            typical = medians[key] = float(np.median(dt[ok]))
    if typical >= DAILY_STEP_SECONDS:
        # One cycle a session (end-of-day data in a backtest): a weekend or a holiday is
        # the next session, not a gap, and a Monday's crash must count.
        ok &= dt <= MAX_SESSION_GAP_SECONDS
    else:
        ok &= dt <= GAP_CYCLES * typical
    return r[ok], dt[ok]


def realised_vol(times: np.ndarray, spots: np.ndarray, window: int, min_samples: int) -> float:
    """Annualised volatility of the last ``window`` intraday returns (NaN if too few).

    Overnight gaps are left out (they mix closed-market time into the estimate); the rest
    are annualised in trading time, 252 days of 6.5 hours. With one cycle a session
    (end-of-day data) every step is a trading day, annualised by 252.
    """
    return _realised(*intraday_steps(times, spots), window, min_samples)


def _realised(r: np.ndarray, dt: np.ndarray, window: int, min_samples: int) -> float:
    """:func:`realised_vol` of steps already taken."""
    r, dt = r[-window:], dt[-window:]
    if r.size < min_samples:
        return float("nan")
    if float(np.median(dt)) >= DAILY_STEP_SECONDS:  # a step per session: 252 a year
        return float(np.sqrt(np.mean(r * r) * TRADING_DAYS_PER_YEAR))
    return float(np.sqrt(np.sum(r * r) / np.sum(dt) * TRADING_SECONDS_PER_YEAR))


@frozen(slots=True)
class TrendStrength:
    """How directional the last ``samples`` intraday steps were.

    ``t`` is the net log return over its standard error (signed: negative is down);
    ``efficiency`` is Kaufman's ratio |net| / sum |step| in [0, 1]. Both NaN when fewer
    than the required samples exist or the price never moved.
    """

    t: float
    efficiency: float
    samples: int

    @property
    def measured(self) -> bool:
        return math.isfinite(self.t) and math.isfinite(self.efficiency)


def trend_strength(
    times: np.ndarray, spots: np.ndarray, window: int, min_samples: int
) -> TrendStrength:
    """Trend t-statistic and efficiency ratio of the last ``window`` intraday steps."""
    return _trend(intraday_steps(times, spots)[0], window, min_samples)


def _trend(r: np.ndarray, window: int, min_samples: int) -> TrendStrength:
    """:func:`trend_strength` of steps already taken."""
    r = r[-window:]
    if r.size < min_samples:
        return TrendStrength(float("nan"), float("nan"), int(r.size))
    net = float(np.sum(r))
    path = float(np.sum(np.abs(r)))
    if path == 0.0:  # a frozen price is a dead feed, not a range
        return TrendStrength(float("nan"), float("nan"), int(r.size))
    sd = float(np.std(r, ddof=1))
    t = net / (sd * math.sqrt(r.size)) if sd > 0 else math.copysign(math.inf, net)
    return TrendStrength(t, abs(net) / path, int(r.size))


def trend_signal(
    trend: TrendStrength, previous: Regime | None, settings: Settings
) -> Regime | None:
    """TRENDING, RANGE_BOUND or None, leaving the ``previous`` signal only once past its
    threshold by the hysteresis margins. Unmeasured trend is None: never a trend."""
    if not trend.measured:
        return None
    strength, eff = abs(trend.t), trend.efficiency
    keep = previous is Regime.TRENDING
    t_margin = settings.trend_t_hysteresis if keep else 0.0
    eff_margin = settings.efficiency_hysteresis if keep else 0.0
    if strength >= settings.trend_t - t_margin and eff >= settings.trend_efficiency - eff_margin:
        return Regime.TRENDING
    keep = previous is Regime.RANGE_BOUND
    t_margin = settings.trend_t_hysteresis if keep else 0.0
    eff_margin = settings.efficiency_hysteresis if keep else 0.0
    if strength <= settings.range_t + t_margin and eff <= settings.range_efficiency + eff_margin:
        return Regime.RANGE_BOUND
    return None


# -- putting it together ---------------------------------------------------------------


def _code(regime: Regime | None) -> float:
    return float(PRECEDENCE.index(regime)) if regime is not None else float("nan")


def _decode(value: float | None) -> Regime | None:
    if value is None or not math.isfinite(value):
        return None
    index = int(value)
    return PRECEDENCE[index] if 0 <= index < len(PRECEDENCE) and index == value else None


def _last_finite(values: np.ndarray | None) -> float:
    if values is None or values.size == 0:
        return float("nan")
    last = float(values[-1])
    if math.isfinite(last):  # the usual case: no need to scan the whole history
        return last
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else float("nan")


def _most_severe(regimes: list[Regime]) -> Regime:
    return min(regimes, key=PRECEDENCE.index)


def _dwell(proposed: Regime, prior: RegimeReading | None, settings: Settings) -> tuple[Regime, int]:
    """The regime to report and how many cycles ``proposed`` has waited to replace it."""
    if prior is None or proposed is prior.regime:
        return proposed, 0
    if proposed in SEVERE and PRECEDENCE.index(proposed) < PRECEDENCE.index(prior.regime):
        return proposed, 0  # escalation into stress is never delayed
    waited = float(prior.inputs.get("candidate_cycles", 0.0))
    waiting = _decode(prior.inputs.get("candidate_regime")) is proposed and waited >= 0
    cycles = int(waited) + 1 if waiting else 1
    if cycles >= settings.min_dwell_cycles:
        return proposed, 0
    return prior.regime, cycles


def _prior_evidence(prior: RegimeReading | None, key: str, fallback: set[Regime]) -> Regime | None:
    """An evidence state carried in the previous reading, else its regime if it is one of
    ``fallback`` (a reading from before these inputs existed)."""
    if prior is None:
        return None
    if key in prior.inputs:
        return _decode(prior.inputs[key])
    return prior.regime if prior.regime in fallback else None


def _fmt_vix(vix: float) -> str:
    return f"VIX {vix:.1f}" if math.isfinite(vix) else "VIX unavailable"


def detect_one(
    symbol: str,
    vix: float,
    recent_low: float,
    chain: OptionChain | None,
    history: MarketHistory,
    prior: RegimeReading | None,
    settings: Settings,
    future: FuturesReading | None = None,
    steps: tuple[np.ndarray, np.ndarray] | None = None,
) -> RegimeReading:
    """The reading of one underlying: every piece of evidence, the most severe regime it
    supports, then the dwell against the previous reading. ``future`` is the reading of
    the index future leading it (used only with ``futures_overnight_drop_pct``);
    ``steps`` its :func:`intraday_steps` when the caller has them already."""
    stressed = prior is not None and prior.regime in SEVERE
    evidence: list[Regime] = [Regime.NORMAL]
    parts: list[str] = []

    band_before = _prior_evidence(
        prior, "vix_band", {Regime.CRASH, Regime.HIGH_VOL, Regime.NORMAL, Regime.LOW_VOL}
    )
    band = vix_band(vix, band_before, settings)
    evidence.append(band)
    if band is band_before and band is not _band(vix, settings) and math.isfinite(vix):
        parts.append(f"{_fmt_vix(vix)} inside the hysteresis band of {band.value}")
    else:
        parts.append(_fmt_vix(vix))
    jump = vix_jump(vix, recent_low)
    if jump >= settings.jump_fraction:
        evidence.append(Regime.CRASH)
        parts.append(f"VIX jumped {jump:.0%} from {recent_low:.1f}")

    ratio, near_dte, far_dte = (
        term_structure(chain, settings) if chain is not None else (float("nan"), 0, 0)
    )
    if math.isfinite(ratio):
        inverted = settings.term_backwardation - (settings.term_hysteresis if stressed else 0.0)
        if ratio >= settings.term_crash_ratio and band in SEVERE:
            evidence.append(Regime.CRASH)
            parts.append(f"IV term {near_dte}d/{far_dte}d {ratio:.2f} deeply inverted")
        elif ratio >= inverted:
            evidence.append(Regime.HIGH_VOL)
            parts.append(f"IV term {near_dte}d/{far_dte}d {ratio:.2f} inverted")
        else:
            parts.append(f"IV term {ratio:.2f}")

    spots = history.spots.get(symbol, np.empty(0))
    if steps is None:
        steps = intraday_steps(history.times, spots)
    realised = _realised(*steps, settings.realised_window, settings.min_realised_samples)
    implied = _last_finite(history.atm_iv.get(symbol))
    vol_ratio = realised / implied if implied > 0 else float("nan")
    threshold = settings.realised_to_implied_high - (
        settings.realised_hysteresis if stressed else 0.0
    )
    if vol_ratio >= threshold:
        evidence.append(Regime.HIGH_VOL)
        parts.append(f"realised vol {realised:.0%} is {vol_ratio:.1f}x implied {implied:.0%}")

    overnight = float("nan")
    drop = settings.futures_overnight_drop_pct
    change = future.change_overnight if future is not None else None
    if drop is not None and change is not None and math.isfinite(change):
        overnight = change
        if overnight <= -drop:
            evidence.append(Regime.HIGH_VOL)
            parts.append(f"{future.future} {overnight:+.2f}% since the last close")

    trend = _trend(steps[0], settings.trend_window, settings.min_trend_samples)
    trend_before = _prior_evidence(prior, "trend_state", {Regime.TRENDING, Regime.RANGE_BOUND})
    signal = trend_signal(trend, trend_before, settings)
    if signal is not None:
        evidence.append(signal)
    if trend.measured:
        parts.append(
            f"trend t={trend.t:.1f} eff={trend.efficiency:.2f} over {trend.samples} cycles"
        )
    else:
        parts.append(f"trend unmeasured ({trend.samples} of {settings.min_trend_samples} cycles)")

    proposed = _most_severe(evidence)
    regime, waited = _dwell(proposed, prior, settings)
    if regime is proposed:
        conclusion = f"-> {regime.value}"
    else:
        conclusion = (
            f"-> {proposed.value} for {waited} of {settings.min_dwell_cycles} cycles, "
            f"still {regime.value}"
        )
    return RegimeReading(
        underlying=symbol,
        regime=regime,
        reason="; ".join(parts) + " " + conclusion,
        inputs={
            "vix": vix,
            "vix_window_low": recent_low,
            "vix_band": _code(band),
            "term_ratio": ratio,
            "realised_vol": realised,
            "atm_iv": implied,
            "trend_t": trend.t,
            "trend_efficiency": trend.efficiency,
            "trend_samples": float(trend.samples),
            "trend_state": _code(signal),
            "candidate_regime": _code(proposed),
            "candidate_cycles": float(waited),
            "futures_overnight": overnight,
        },
    )


@hookimpl
def v6_detect_regime(
    market: MarketView,
    history: MarketHistory,
    previous: Mapping[str, RegimeReading],
    settings: Settings,
) -> dict[str, RegimeReading]:
    """A reading for every underlying in the market (see the module docstring for the
    evidence, the precedence and the dwell)."""
    vix = float(market.vix)
    window = history.vix[-settings.jump_window :] if history.vix.size else np.array([vix])
    recent_low = float(np.nanmin(window)) if np.isfinite(window).any() else float("nan")
    seconds = _seconds(history.times)
    medians: dict[bytes, float] = {}
    return {
        symbol: detect_one(
            symbol,
            vix,
            recent_low,
            market.chains.get(symbol),
            history,
            previous.get(symbol),
            settings,
            (market.futures or {}).get(symbol),
            _steps(seconds, history.spots.get(symbol, np.empty(0)), medians),
        )
        for symbol in market.underlyings
    }
