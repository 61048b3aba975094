"""While a paper or live engine waits for its next cycle (overnight, a weekend) it still
says it is alive: a heartbeat a minute, with the broker connection as it is now, so
``GET /health`` and ``v6 health`` neither cry wolf every night nor miss a gateway lost
while the market is shut."""

from __future__ import annotations

import pandas as pd
from ib_harness import ib_engine, paper_config, running_gateway
from sessions import table

from v6.engine import heartbeat


def test_a_waiting_engine_repeats_its_last_heartbeat_with_the_connection_of_now(tmp_path):
    with running_gateway() as gateway:
        cfg = paper_config(tmp_path / "store", gateway.port)
        engine, clock = ib_engine(cfg)
        try:
            heartbeat.waiting(engine)  # no cycle yet: nothing to repeat
            assert table(cfg, "heartbeat").empty
            engine.run_cycle(clock.now())
            first = table(cfg, "heartbeat")
            assert len(first) == 1 and bool(first["broker_connected"].iloc[0])
            heartbeat.waiting(engine)  # a second after the cycle's own row: not yet due
            assert len(table(cfg, "heartbeat")) == 1

            gateway.run(gateway.drop_connections())  # the gateway goes away overnight
            for _ in range(100):
                engine.broker.connection.pump(0.01)
                if not engine.broker.connected:
                    break
            engine.heartbeat_flushed -= heartbeat.WAITING_BEAT_SECONDS  # a minute later
            heartbeat.waiting(engine)
        finally:
            engine.close()
    beats = table(cfg, "heartbeat").sort_values("written_at")
    assert len(beats) == 2
    waited = beats.iloc[1]
    assert waited["cycle"] == beats.iloc[0]["cycle"]  # the same cycle, repeated
    assert waited["time"] == beats.iloc[0]["time"]
    assert pd.Timestamp(waited["written_at"]) > pd.Timestamp(beats.iloc[0]["written_at"])
    assert not bool(waited["broker_connected"])  # the lost gateway shows at once
