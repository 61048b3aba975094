"""Secrets from the environment never reach a log line or a table, and the ``logging:``
section writes JSON lines to a rotated file.

A paper session against the fake gateway runs with the IB account, the dashboard login and
a notification URL with a token in its environment, logging at INFO to a small rotated
file; then every log file, every file of every table, every cell of every table and the
process output are searched for each secret.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import attrs
from ib_harness import ACCOUNT, paper_config, running_gateway, write_config
from test_notify import Receiver
from v6_process import V6

from v6.store.delta_store import DeltaStore
from v6.store.schemas import TABLES

PASSWORD = "pw-Zq81-xkcd-horse"
USER = "trader-ops-7731"
TOKEN = "tok3nS3cr3tF00b4r"


def test_no_secret_in_logs_tables_or_output_and_logs_are_rotated_json(tmp_path):
    receiver = Receiver()
    try:
        with running_gateway() as gateway:
            cfg = paper_config(tmp_path / "store", gateway.port)
            cfg = attrs.evolve(
                cfg,
                ib=attrs.evolve(cfg.ib, account=""),  # the account comes from the environment
                logging=attrs.evolve(
                    cfg.logging,
                    format="json",
                    file=str(tmp_path / "log" / "v6.log"),
                    max_mb=0.01,
                    backups=3,
                ),
            )
            config = write_config(cfg, tmp_path / "paper.yaml")
            env = {
                **os.environ,
                "V6_IB_ACCOUNT": ACCOUNT,
                "V6_DASHBOARD_USER": USER,
                "V6_DASHBOARD_PASSWORD": PASSWORD,
                "V6_NOTIFY_URLS": f"{receiver.url}{TOKEN}?secret={TOKEN}",
            }
            done = subprocess.run(
                [V6, "run", "-v", "--config", str(config), "--cycles", "3"],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp_path,
                timeout=300,
            )
    finally:
        receiver.close()
    assert done.returncode == 0, done.stderr
    secrets = [ACCOUNT, USER, PASSWORD, TOKEN]

    logs = sorted((tmp_path / "log").iterdir())
    assert [p.name for p in logs][:2] == ["v6.log", "v6.log.1"]  # rotated
    assert len(logs) <= 4  # the file and at most 3 backups
    lines = [line for p in logs for line in p.read_text().splitlines()]
    entries = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    # Lines that would name the account (ib_async's position updates) are there, masked.
    assert any("***" in e["message"] for e in entries)

    table_files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in table_files)
    for secret in secrets:
        needle = secret.encode()
        for path in [*logs, *table_files]:
            assert needle not in path.read_bytes(), f"{secret} in {path}"
        assert secret not in done.stdout and secret not in done.stderr
    store = DeltaStore(tmp_path / "store")
    for name in TABLES:
        if not store.exists(name):
            continue
        frame = store.read(name)
        text = frame.astype(str).to_csv()
        for secret in secrets:
            assert secret not in text, f"{secret} in table {name}"
    runs = store.read("runs")
    assert "account: '***'" in runs["config"].iloc[0]


def test_a_log_file_that_cannot_be_written_is_a_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = tmp_path / "v6.yaml"
    config.write_text(f"logging:\n  file: {blocker}/v6.log\n")
    done = subprocess.run(
        [V6, "run", "--config", str(config), "--cycles", "1", "--store", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("v6: config error at 'logging.file': cannot write")
    assert Path(tmp_path / "s").exists() is False
