"""Configuration: YAML and the shared converter give valid values or one precise error."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from attrs import field, frozen, validators

from v6.config import Mode, PluginBlock, TradingConfig
from v6.config_loader import (
    ENV_OVERRIDES,
    ConfigFileError,
    dump_config,
    load_config,
    validate_semantics,
)
from v6.conversion import structure, unstructure
from v6.domain.plugins import NoSettings, PluginKind
from v6.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
NO_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _no_v6_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str, name: str = "v6.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, **kwargs: object) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(caught.value) or "environment" in str(caught.value)
    return caught.value


# -- the shipped files ---------------------------------------------------------------------


def test_embedded_defaults_are_exactly_the_schema_defaults():
    assert load_config(None, environ=NO_ENV) == TradingConfig()


def test_config_sim_yaml_loads_and_matches_the_embedded_defaults():
    assert load_config(REPO / "config" / "sim.yaml", environ=NO_ENV) == load_config(None)


def test_every_schema_key_is_written_out_in_the_embedded_defaults():
    import yaml

    text = (REPO / "v6" / "defaults" / "sim.yaml").read_text(encoding="utf-8")
    expected = unstructure(TradingConfig())
    # `priority:` is left out on purpose: unset means "the rule's declared priority".
    for blocks in expected["plugins"].values():
        for block in blocks.values() if isinstance(blocks, dict) else ():
            assert block.pop("priority") is None
    assert yaml.safe_load(text) == expected


def test_dump_config_round_trips_non_default_values(tmp_path):
    cfg = attrs.evolve(
        TradingConfig(),
        mode=Mode.PAPER,
        underlyings=["SPY"],
        ib=attrs.evolve(TradingConfig().ib, host="10.0.0.5", account="DU123"),
        sim=attrs.evolve(TradingConfig().sim, start=date(2026, 3, 2), force_regime="crash"),
    )
    cfg = attrs.evolve(
        cfg,
        plugins=attrs.evolve(
            cfg.plugins,
            exit_rules={"stop_loss": PluginBlock(settings={"multiple": 2.5}, priority=1)},
        ),
    )
    path = write(tmp_path, dump_config(cfg))
    assert load_config(path, environ=NO_ENV) == cfg


def test_empty_file_and_empty_sections_mean_defaults(tmp_path):
    assert load_config(write(tmp_path, ""), environ=NO_ENV) == TradingConfig()
    path = write(tmp_path, "ib:\nplugins:\n  strategies:\n    iron_condor:\n", "b.yaml")
    cfg = load_config(path, environ=NO_ENV)
    assert cfg.ib == TradingConfig().ib
    assert cfg.plugins.strategies == {"iron_condor": PluginBlock()}


# -- structure errors name the key path ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("prot: 1\n", "prot", "unknown key 'prot'"),
        ("mdoe: sim\n", "mdoe", "did you mean 'mode'?"),
        ("ib:\n  prot: 4002\n", "ib.prot", "unknown key 'prot'; did you mean 'port'?"),
        (
            "sim:\n  broker:\n    comission_per_contract: 1\n",
            "sim.broker.comission_per_contract",
            "did you mean 'commission_per_contract'?",
        ),
        (
            "plugins:\n  exit_rules:\n    stop_loss:\n      prority: 2\n",
            "plugins.exit_rules.stop_loss.prority",
            "did you mean 'priority'?",
        ),
        ("ib:\n  zzz: 1\n", "ib.zzz", "valid keys: host, port, client_id"),
    ],
)
def test_unknown_key_is_reported_with_its_path_and_closest_name(tmp_path, text, path, expected):
    error = load_error(tmp_path, text, environ=NO_ENV)
    assert error.path == path
    assert expected in error.expected


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("ib:\n  port: abc\n", "ib.port", "expected an integer, got 'abc'"),
        ("ib:\n  port: -1\n", "ib.port", "must be > 0, got -1"),
        ("ib:\n  port: 70000\n", "ib.port", "must be <= 65535, got 70000"),
        ("ib:\n  port: true\n", "ib.port", "expected an integer, got true"),
        ("ib:\n  port: 7497.5\n", "ib.port", "expected an integer, got 7497.5"),
        ("mode: demo\n", "mode", "expected one of sim, paper, live, got 'demo'"),
        (
            "ib:\n  market_data_type: realtime\n",
            "ib.market_data_type",
            "expected one of live, frozen, delayed, delayed_frozen, got 'realtime'",
        ),
        ("sim:\n  flatten_at_end: 'no'\n", "sim.flatten_at_end", "expected true or false"),
        ("sim:\n  start: 2026-02-30\n", "sim.start", "expected a date (YYYY-MM-DD)"),
        ("sim:\n  start: '2026-02-03'\n  days: 0\n", "sim.days", "must be > 0, got 0"),
        ("limits:\n  max_loss_per_trade: abc\n", "limits.max_loss_per_trade", "got 'abc'"),
        ("sim:\n  risk_free_rate: .nan\n", "sim.risk_free_rate", "finite number, got nan"),
        (
            "sim:\n  underlyings:\n    SPY: {spot: 590, beta: .inf}\n",
            "sim.underlyings.SPY.beta",
            "finite number, got inf",
        ),
        (
            "plugins:\n  exit_rules:\n    stop_loss:\n      settings: {multiple: .nan}\n",
            "plugins.exit_rules.stop_loss.settings.multiple",
            "finite",
        ),
        ("underlyings: SPY\n", "underlyings", "expected a list, got 'SPY'"),
        ("underlyings: [SPY, 3]\n", "underlyings[1]", "expected a string, got 3"),
        ("ib: 5\n", "ib", "expected a mapping of keys, got 5"),
        ("sim:\n  underlyings:\n    TSLA: {vol: 0.5}\n", "sim.underlyings.TSLA.spot", "required"),
        (
            "sim:\n  underlyings:\n    BRK.B: {spot: -3}\n",
            "sim.underlyings['BRK.B'].spot",
            "must be > 0",
        ),
        (
            "plugins:\n  exit_rules:\n    stop_loss:\n      priority: 5.5\n",
            "plugins.exit_rules.stop_loss.priority",
            "expected an integer, got 5.5",
        ),
        (
            "plugins:\n  exit_rules:\n    stop_loss:\n      settings: [1, 2]\n",
            "plugins.exit_rules.stop_loss.settings",
            "expected a mapping, got a list",
        ),
        ("plugins:\n  exit_rules: [stop_loss]\n", "plugins.exit_rules", "expected a mapping"),
    ],
)
def test_malformed_value_is_reported_with_its_path_and_what_was_expected(
    tmp_path, text, path, expected
):
    error = load_error(tmp_path, text, environ=NO_ENV)
    assert (error.path, expected in error.expected) == (path, True), error.expected


def test_misspelt_key_is_reported_before_the_missing_key_it_explains(tmp_path):
    error = load_error(tmp_path, "sim:\n  underlyings:\n    XYZ: {sopt: 5}\n", environ=NO_ENV)
    assert error.path == "sim.underlyings.XYZ.sopt"
    assert "did you mean 'spot'?" in error.expected


# -- the converter is general: plugin settings, rows ---------------------------------------


@frozen
class CondorSettings:
    short_delta: float = field(default=0.16, validator=[validators.gt(0), validators.lt(1)])
    min_dte: int = 30


def test_plugin_settings_errors_carry_the_full_key_path():
    prefix = "plugins.strategies.iron_condor.settings"
    assert structure(CondorSettings, {"min_dte": 7}, path=prefix) == CondorSettings(min_dte=7)
    with pytest.raises(ConfigError) as caught:
        structure(CondorSettings, {"short_delta": 1.5}, path=prefix, source="my.yaml")
    assert caught.value.path == f"{prefix}.short_delta"
    assert caught.value.expected == "must be < 1, got 1.5"
    assert str(caught.value).startswith("my.yaml: ")
    with pytest.raises(ConfigError) as caught:
        structure(CondorSettings, {"short_detla": 0.2}, path=prefix)
    assert caught.value.path == f"{prefix}.short_detla"
    assert "did you mean 'short_delta'?" in caught.value.expected


def test_settings_for_a_plugin_that_takes_none_say_so():
    with pytest.raises(ConfigError) as caught:
        structure(NoSettings, {"window": 5}, path="plugins.regime.volatility_regime.settings")
    assert caught.value.path == "plugins.regime.volatility_regime.settings.window"
    assert caught.value.expected == "unknown key 'window'; this section takes no keys"


@dataclasses.dataclass(frozen=True)
class PlainSettings:
    width: int = 5


def test_dataclass_settings_get_the_same_unknown_key_hint():
    assert structure(PlainSettings, {"width": 7}) == PlainSettings(7)
    with pytest.raises(ConfigError) as caught:
        structure(PlainSettings, {"widht": 7}, path="s")
    assert (caught.value.path, caught.value.expected) == (
        "s.widht",
        "unknown key 'widht'; did you mean 'width'?",
    )


@frozen
class Stamp:
    day: date
    at: datetime
    kind: PluginKind


def test_dates_timestamps_and_enums_structure_from_text_and_unstructure_to_values():
    paris = timezone(timedelta(hours=1))
    stamp = structure(
        Stamp, {"day": "2026-01-05", "at": "2026-01-05T15:30:00+01:00", "kind": "exit_rule"}
    )
    assert stamp == Stamp(
        date(2026, 1, 5), datetime(2026, 1, 5, 14, 30, tzinfo=UTC), PluginKind.EXIT_RULE
    )
    assert stamp.at.tzinfo is UTC
    assert structure(Stamp, unstructure(stamp)) == stamp
    assert unstructure(stamp)["kind"] == "exit_rule"
    assert type(unstructure(stamp)["kind"]) is str
    aware = structure(
        Stamp,
        {
            "day": date(2026, 1, 5),
            "at": datetime(2026, 1, 5, 16, tzinfo=paris),
            "kind": PluginKind.REGIME,
        },
    )
    assert aware.at == datetime(2026, 1, 5, 15, tzinfo=UTC)


def test_naive_timestamp_is_refused_because_the_core_is_utc_only():
    with pytest.raises(ConfigError) as caught:
        structure(Stamp, {"day": "2026-01-05", "at": "2026-01-05T15:30:00", "kind": "regime"})
    assert caught.value.path == "at"
    assert "time zone" in caught.value.expected


def test_list_element_errors_carry_their_index():
    with pytest.raises(ConfigError) as caught:
        structure(
            list[Stamp],
            [
                unstructure(
                    Stamp(date(2026, 1, 5), datetime(2026, 1, 5, tzinfo=UTC), PluginKind.REGIME)
                ),
                {"day": "x"},
            ],
            path="rows",
        )
    assert caught.value.path == "rows[1].day"


# -- the file itself -----------------------------------------------------------------------


def test_missing_file_is_named():
    with pytest.raises(ConfigFileError) as caught:
        load_config("/nonexistent/v6.yaml")
    assert str(caught.value) == "config file not found: /nonexistent/v6.yaml"
    assert caught.value.exit_status == 2


def test_directory_instead_of_file_is_refused(tmp_path):
    with pytest.raises(ConfigFileError, match="is a directory"):
        load_config(tmp_path)


def test_bad_yaml_is_reported_with_line_and_column(tmp_path):
    path = write(tmp_path, "mode: sim\nib:\n  port: [7497\n  host: x\n")
    with pytest.raises(ConfigFileError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid YAML at line 4, column")


def test_duplicate_key_is_an_error_not_a_silent_override(tmp_path):
    path = write(tmp_path, "ib:\n  port: 4002\nmode: sim\nib:\n  port: 7497\n")
    with pytest.raises(
        ConfigFileError, match=r"line 4, column 1: duplicate key 'ib' \(first defined at line 1\)"
    ):
        load_config(path)


def test_top_level_list_is_refused(tmp_path):
    error = load_error(tmp_path, "- mode: sim\n", environ=NO_ENV)
    assert error.path == "(top level)"
    assert "got a list" in error.expected


# -- environment overrides -----------------------------------------------------------------


def test_environment_overrides_the_connection_after_the_file(tmp_path):
    path = write(tmp_path, "mode: paper\nib:\n  port: 7497\n  account: DU1\n")
    environ = {
        "V6_IB_HOST": "gateway.lan",
        "V6_IB_PORT": "4002",
        "V6_IB_CLIENT_ID": "9",
        "V6_IB_ACCOUNT": "DU777",
        "V6_IB_UNRELATED": "x",
    }
    ib = load_config(path, environ=environ).ib
    assert (ib.host, ib.port, ib.client_id, ib.account) == ("gateway.lan", 4002, 9, "DU777")


def test_empty_environment_variable_counts_as_unset(tmp_path):
    path = write(tmp_path, "ib:\n  port: 4002\n")
    assert load_config(path, environ={"V6_IB_PORT": " "}).ib.port == 4002


def test_process_environment_is_used_by_default(monkeypatch):
    monkeypatch.setenv("V6_IB_CLIENT_ID", "12")
    assert load_config(None).ib.client_id == 12


@pytest.mark.parametrize(
    ("name", "value", "path", "expected"),
    [
        ("V6_IB_PORT", "abc", "ib.port", "expected an integer, got 'abc'"),
        ("V6_IB_PORT", "0", "ib.port", "must be > 0, got 0"),
        ("V6_IB_CLIENT_ID", "-4", "ib.client_id", "must be >= 0, got -4"),
    ],
)
def test_invalid_environment_override_names_its_variable(name, value, path, expected):
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ={name: value})
    assert caught.value.path == path
    assert caught.value.expected == expected
    assert str(caught.value).startswith(f"environment variable {name}: ")


def test_a_gateway_host_from_the_environment_never_stops_a_sim_run(tmp_path):
    # V6_IB_HOST set for this machine's paper service: a sim run ignores it (nothing
    # connects), while a remote host in a sim *file* is still refused.
    cfg = load_config(None, environ={"V6_IB_HOST": "10.1.2.3"})
    assert cfg.ib.host == "127.0.0.1"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "ib:\n  host: 10.1.2.3\n"), environ=NO_ENV)
    assert caught.value.path == "ib.host"


# -- rules across keys ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("mode: live\n", "ib.account", "live mode needs the IB account"),
        ("underlyings: [SPY, TSLA]\n", "underlyings[1]", "'TSLA' has no simulated market"),
        ("underlyings: [SPY, QQQ, SPY]\n", "underlyings[2]", "listed twice"),
        ("underlyings: []\n", "underlyings", "at least one"),
        (
            "plugins:\n  strike_selector:\n    delta_target: {}\n    mid_width: {}\n",
            "plugins.strike_selector",
            "exactly one strike selector, got 2 (delta_target, mid_width)",
        ),
        ("plugins:\n  regime: {}\n", "plugins.regime", "select at least one regime detector"),
        (
            "plugins:\n  regime:\n    volatility_regime: {}\n    trend_regime: {}\n",
            "plugins.regime_driver",
            "2 regime detectors are selected (volatility_regime, trend_regime); name the one "
            "whose readings drive exits",
        ),
        (
            "plugins:\n  regime:\n    volatility_regime: {}\n    trend_regime: {}\n"
            "  regime_driver: volatilty_regime\n",
            "plugins.regime_driver",
            "'volatilty_regime' is not a selected regime detector; did you mean "
            "'volatility_regime'? (selected under plugins.regime: volatility_regime, "
            "trend_regime)",
        ),
        (
            "plugins:\n  regime_driver: trend_regime\n",
            "plugins.regime_driver",
            "'trend_regime' is not a selected regime detector (selected under plugins.regime: "
            "volatility_regime)",
        ),
        (
            "plugins:\n  strategies:\n    iron_condor: {priority: 2}\n",
            "plugins.strategies.iron_condor.priority",
            "only exit rules",
        ),
        ("ib:\n  host: 192.168.1.20\n", "ib.host", "sim mode never connects"),
        ("store:\n  path: ''\n", "store.path", "required"),
    ],
)
def test_cross_key_rules_are_reported_with_the_offending_path(tmp_path, text, path, expected):
    error = load_error(tmp_path, text, environ=NO_ENV)
    assert error.path == path
    assert expected in error.expected


@pytest.mark.parametrize("host", ["192.168.1.20", "gateway.lan", "::1", "localhost"])
def test_any_gateway_host_is_allowed_in_paper_and_live(tmp_path, host):
    path = write(tmp_path, f"mode: live\nib:\n  host: '{host}'\n  account: U1\n")
    assert load_config(path, environ=NO_ENV).ib.host == host


def test_paper_mode_needs_no_sim_market_for_its_underlyings(tmp_path):
    path = write(tmp_path, "mode: paper\nunderlyings: [TSLA]\n")
    assert load_config(path, environ=NO_ENV).underlyings == ["TSLA"]


@pytest.mark.parametrize("priority", [0, -5, 55, 1000])
def test_an_exit_rule_priority_may_be_any_integer(tmp_path, priority):
    path = write(tmp_path, f"plugins:\n  exit_rules:\n    stop_loss: {{priority: {priority}}}\n")
    assert load_config(path, environ=NO_ENV).plugins.exit_rules["stop_loss"].priority == priority


def test_several_regime_detectors_name_the_one_that_drives_exits(tmp_path):
    two = "plugins:\n  regime:\n    volatility_regime: {}\n    trend_regime: {}\n"
    path = write(tmp_path, two + "  regime_driver: trend_regime\n")
    plugins = load_config(path, environ=NO_ENV).plugins
    assert list(plugins.regime) == ["volatility_regime", "trend_regime"]
    assert plugins.driving_regime() == "trend_regime"
    # One detector drives by default, or when named.
    assert TradingConfig().plugins.driving_regime() == "volatility_regime"
    one = write(tmp_path, "plugins:\n  regime_driver: volatility_regime\n", "one.yaml")
    assert load_config(one, environ=NO_ENV).plugins.driving_regime() == "volatility_regime"


def test_validate_semantics_accepts_the_defaults():
    validate_semantics(TradingConfig())


def test_the_paper_example_is_a_valid_paper_config_for_a_local_gateway():
    cfg = load_config(REPO / "config" / "paper.yaml", environ=NO_ENV)
    assert cfg.mode.value == "paper"
    assert (cfg.ib.host, cfg.ib.port) == ("127.0.0.1", 7497)
    assert cfg.store.path == "data/paper"
