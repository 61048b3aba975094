"""The rolling market history the engine keeps for regime detectors."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from builders import NOW, chain, market

from v6.domain.market import MarketHistory
from v6.engine.history import HistoryRecorder, atm_iv

STEP = timedelta(minutes=15)


def record_cycles(recorder: HistoryRecorder, cycles: int) -> list[MarketHistory]:
    """Record ``cycles`` cycles whose VIX is 10, 11, 12, ...; every history handed out."""
    spy = chain()
    return [recorder.record(market(spy, now=NOW + i * STEP, vix=10.0 + i)) for i in range(cycles)]


def expected_window(cycle: int, maxlen: int) -> tuple[list[float], list[np.datetime64]]:
    first = max(0, cycle + 1 - maxlen)
    cycles = range(first, cycle + 1)
    times = [np.datetime64((NOW + i * STEP).replace(tzinfo=None), "us") for i in cycles]
    return [10.0 + i for i in cycles], times


def test_the_history_holds_the_last_maxlen_cycles_oldest_first():
    history = record_cycles(HistoryRecorder(["SPY"], maxlen=3), 8)[-1]
    vix, times = expected_window(7, 3)
    assert history.vix.tolist() == vix
    assert history.times.tolist() == [t.item() for t in times]
    spot = chain().spot
    assert history.spots["SPY"].tolist() == pytest.approx([spot] * 3, abs=0.011)
    assert history.atm_iv["SPY"].tolist() == [atm_iv(chain())] * 3


def test_a_history_handed_out_earlier_never_changes_as_cycles_are_added():
    maxlen = 4
    histories = record_cycles(HistoryRecorder(["SPY"], maxlen=maxlen), 5 * maxlen)
    for cycle, history in enumerate(histories):
        vix, times = expected_window(cycle, maxlen)
        assert history.vix.tolist() == vix, cycle
        assert history.times.tolist() == [t.item() for t in times], cycle
        assert len(history.spots["SPY"]) == len(history.atm_iv["SPY"]) == len(vix)


def test_a_detector_cannot_overwrite_the_history_others_read():
    history = record_cycles(HistoryRecorder(["SPY"]), 2)[-1]
    with pytest.raises(ValueError):
        history.vix[0] = 99.0
    with pytest.raises(ValueError):
        history.spots["SPY"][0] = 1.0
