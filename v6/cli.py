"""The ``v6`` command: run a session, list plugins, check a config file.

Errors a user can act on (``V6Error``) become one line on stderr, ``v6: <message>``, and the
error's exit status (2 for configuration and usage, including a command line argparse
rejects and a ``--store`` that holds no store; 3 for a safety refusal, 4 for an IB gateway
that cannot be reached, 5 for a store in use by another session, 6 for a damaged table;
1 for the rest, such as a store that cannot be written). Anything else is a bug: its
traceback goes to the log and the exit status is 1. A session stopped by Ctrl-C, SIGTERM
or SIGHUP exits 0; a Ctrl-C before the session starts exits 130.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from enum import Enum
from typing import Any, NoReturn

import attrs

from v6.config import Mode, TradingConfig
from v6.config_loader import DEFAULTS_SOURCE, load_config, validate_semantics
from v6.conversion import first_problem
from v6.errors import ConfigError, V6Error
from v6.futures import DEFAULT_MAX_LAG
from v6.predictions.cli import add_command as add_predictions_command

log = logging.getLogger("v6.cli")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class UsageError(V6Error):
    """The command line asks for something the config does not allow (exit status 2)."""

    exit_status = 2


class V6ArgumentParser(argparse.ArgumentParser):
    """argparse with V6's one-line errors: ``v6: <message> (see v6 <command> --help)``.

    argparse prints its usage block before the message; V6 prints one line like every
    other error, with the same exit status 2. Subcommand parsers are of this class too
    (``add_subparsers`` makes them with the class of the parser it belongs to).
    """

    def error(self, message: str) -> NoReturn:
        text = " ".join(line.strip() for line in message.splitlines() if line.strip())
        self.exit(2, _printable(f"v6: {text} (see {self.prog} --help)\n"))

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """As argparse, but an unknown argument is reported by its command's parser.

        argparse reports it from the top parser, whose hint would be ``v6 --help``
        where ``v6 run --help`` lists what ``v6 run`` takes.
        """
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self._command_parser(parsed).error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def _command_parser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the (sub)command ``parsed`` ran, nested commands included."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None))
                if isinstance(chosen, V6ArgumentParser):
                    return chosen._command_parser(parsed)
        return self


def _printable(text: str) -> str:
    """``text`` with the undecodable bytes of an argument (surrogates) escaped, ``\\udcff``.

    Python's own stderr escapes them; a stream of an embedding program may not.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# -- logging -------------------------------------------------------------------------------


class _CliHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so repeated ``main()`` calls replace it."""


def configure_logging(verbose: bool) -> logging.Handler:
    """INFO with ``--verbose``, WARNING otherwise, to the current stderr; returns the handler."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _CliHandler)]:
        root.removeHandler(handler)
    handler = _CliHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    return handler


# -- commands ------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _source(path: str | None) -> str:
    return path if path is not None else DEFAULTS_SOURCE


def run_config(args: argparse.Namespace) -> TradingConfig:
    """The config ``v6 run`` will use: the file, then the command-line overrides, checked."""
    config = load_config(args.config)
    if args.seed is not None:
        try:
            sim = attrs.evolve(config.sim, seed=args.seed)
        except ValueError as exc:  # the field's validator: `--seed -5`
            raise ConfigError(*first_problem(exc, "sim"), "command line --seed") from None
        config = attrs.evolve(config, sim=sim)
    if args.store is not None:
        config = attrs.evolve(config, store=attrs.evolve(config.store, path=args.store))
    validate_semantics(config, source="command line")
    if config.mode is Mode.LIVE and not args.live:
        raise UsageError(
            f"live trading needs --live ({_source(args.config)} has mode: live; "
            "orders would go to a real-money account)"
        )
    if args.live and config.mode is not Mode.LIVE:
        raise UsageError(
            f"--live given but {_source(args.config)} has mode: {config.mode.value}; "
            "set mode: live in the config to trade live"
        )
    return config


def cmd_run(args: argparse.Namespace) -> int:
    config = run_config(args)
    from v6.ops.logs import configure as configure_logs  # logging: format, file, masking

    root = logging.getLogger()
    log_file = configure_logs(
        config.logging, [h for h in root.handlers if isinstance(h, _CliHandler)]
    )
    try:
        check_plugins(config, args.config)
        # Imported here so config errors are reported without loading the engine.
        from v6.app import run_session

        return run_session(
            config, cycles=args.cycles, live=args.live, verbose=args.verbose, exiting_after=True
        )
    finally:
        if log_file is not None:
            root.removeHandler(log_file)
            log_file.close()


def check_plugins(config: TradingConfig, path: str | None) -> None:
    """Select the config's plugins, so each validates its own settings before anything runs,
    then check the rules that need them (``v6.config_rules.selection_problems``).

    ``v6 check-config`` and ``v6 run`` both end their checks here, so a config that
    check-config accepts is one run accepts. Errors name the config file, like every
    other config error.
    """
    from v6.config_rules import selection_problems
    from v6.plugin_manager import discover, select

    try:
        discovery = discover()
        problem = selection_problems(config, select(discovery, config.plugins), discovery)
        if problem is not None:
            raise ConfigError(*problem)
    except ConfigError as exc:
        if exc.source is not None:
            raise
        raise ConfigError(exc.path, exc.expected, _source(path)) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_plugins(config, args.config)
    print(f"config OK: {_source(args.config)}")
    return 0


def _kind_order(kind: Any) -> int:
    # Kinds in the order PluginKind declares them, not alphabetically.
    return list(type(kind)).index(kind) if isinstance(kind, Enum) else 1_000


def _plugin_rows(discovery: Any) -> list[dict[str, Any]]:
    plugins = sorted(
        discovery.plugins,
        key=lambda p: (
            _kind_order(p.kind),
            p.priority is None,
            p.priority or 0,
            p.name,
        ),
    )
    return [
        {
            "name": p.name,
            "kind": str(p.kind.value if isinstance(p.kind, Enum) else p.kind),
            "priority": p.priority,
            "distribution": p.distribution,
            "version": p.version,
            "module": p.module,
            "hooks": list(p.hooks),
            "summary": p.summary,
            "error": None,
        }
        for p in plugins
    ]


def _error_rows(discovery: Any) -> list[dict[str, Any]]:
    empty = dict.fromkeys(
        ("kind", "priority", "distribution", "version", "module", "summary"), None
    )
    return [
        {"name": e.plugin, **empty, "hooks": [], "error": e.reason}
        for e in sorted(discovery.errors, key=lambda e: e.plugin)
    ]


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("NAME", "KIND", "PRIORITY", "DISTRIBUTION", "HOOKS")
    cells = [
        (
            r["name"],
            r["kind"],
            "-" if r["priority"] is None else str(r["priority"]),
            f"{r['distribution']}=={r['version']}" if r["distribution"] else "-",
            ", ".join(r["hooks"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in [header, *cells]
    ]
    return "\n".join(line.rstrip() for line in lines)


def cmd_plugins(args: argparse.Namespace) -> int:
    """Every plugin found through the ``v6`` entry points, and those that failed to load.

    Each failure is printed once (on stderr, or as a row with an ``error`` in ``--json``)
    and makes the exit status 1: the listing worked, but something installed is broken.
    ``--settings NAME`` prints one plugin's settings instead.
    """
    from v6.plugin_manager import discover

    discovery = discover()
    if args.settings is not None:
        return _print_settings(discovery, args.settings, args.json)
    rows = _plugin_rows(discovery)
    if args.json:
        print(json.dumps(rows + _error_rows(discovery), indent=2))
    else:
        print(_table(rows))
        for error in sorted(discovery.errors, key=lambda e: e.plugin):
            print(f"v6: {error}", file=sys.stderr)
    return 1 if discovery.errors else 0


def _print_settings(discovery: Any, name: str, as_json: bool) -> int:
    """``v6 plugins --settings NAME``: each setting's name, type, default and doc."""
    import difflib
    import textwrap

    from v6.plugin_manager import SECTION_KIND
    from v6.plugin_settings import describe_settings

    plugin = discovery.get(name)
    if plugin is None:
        failed = next((e for e in discovery.errors if e.plugin == name), None)
        if failed is not None:
            raise failed
        close = difflib.get_close_matches(name, [p.name for p in discovery.plugins], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UsageError(f"no plugin named '{name}'{hint} (v6 plugins lists them)")
    settings = describe_settings(plugin.info.settings)
    section = next(s for s, kind in SECTION_KIND.items() if kind is plugin.kind)
    path = f"plugins.{section}.{name}.settings"
    if as_json:
        print(json.dumps([attrs.asdict(s) for s in settings], indent=2))
        return 0
    origin = f"{plugin.distribution} {plugin.version}" if plugin.distribution else plugin.module
    priority = f", priority {plugin.priority}" if plugin.priority is not None else ""
    print(f"{name} ({plugin.kind.value}{priority}; {origin}): {plugin.summary}")
    if not settings:
        print("takes no settings")
        return 0
    print(f"settings, under {path}:")
    for setting in settings:
        print(f"  {setting.name}: {setting.type} = {setting.default}")
        doc = setting.doc or "(undocumented)"
        print(textwrap.fill(doc, width=88, initial_indent=" " * 6, subsequent_indent=" " * 6))
    return 0


def cmd_plugin_new(args: argparse.Namespace) -> int:
    """``v6 plugin new NAME --kind KIND [--dir PATH]``: write a ready plugin package."""
    from pathlib import Path

    from v6.domain.plugins import PluginKind
    from v6.plugin_package import write_package

    root = write_package(args.name, PluginKind(args.kind), Path(args.dir))
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    print(f"wrote {root}: {args.kind} plugin '{args.name}'")
    for name in files:
        print(f"  {name}")
    print(
        f"next: pip install -e '{root}[test]' && pytest {root} && v6 plugins --settings {args.name}"
    )
    return 0


def _store(args: argparse.Namespace) -> Any:
    """The store a reading command looks at: ``--store``, else the config's store.path.

    It must exist and hold a V6 store (NotAStoreError, exit status 2, if not): a typo must
    not read as an empty store, nor have ``breaker reset`` create one.
    """
    from v6.store.delta_store import DeltaStore
    from v6.store.integrity import check_existing_store

    path = args.store if args.store is not None else load_config(args.config).store.path
    check_existing_store(path)
    return DeltaStore(path)


def cmd_explain(args: argparse.Namespace) -> int:
    """Print a position's decision history and every rule's verdict in its last cycle."""
    from v6.explain import explain

    print(explain(_store(args), args.position_id, history=args.history))
    return 0


def cmd_predictions(args: argparse.Namespace) -> int:
    """``v6 predictions report``: predictions graded against outcomes (v6.predictions)."""
    from v6.predictions.cli import cmd_report

    return cmd_report(args, _store(args))


def _breaker_states(store: Any) -> list[tuple[str, str, str]]:
    from v6.config import BREAKER_NAMES
    from v6.risk.breaker_log import stored_events

    state = {name: ("ok", "") for name in BREAKER_NAMES}
    for event in stored_events(store):
        if event.breaker not in state:
            continue
        if event.event == "trip":
            state[event.breaker] = ("TRIPPED", f"{event.time:%Y-%m-%d %H:%M}Z {event.reason}")
        elif event.event in ("reset", "reset_request"):
            state[event.breaker] = ("ok", f"{event.event} {event.time:%Y-%m-%d %H:%M}Z")
    return [(name, *state[name]) for name in BREAKER_NAMES]


def cmd_breaker(args: argparse.Namespace) -> int:
    """``v6 breaker status`` shows every breaker; ``v6 breaker reset NAME`` resets one."""
    from datetime import UTC, datetime

    from v6.risk.breaker_log import request_reset
    from v6.risk.circuit_breakers import check_breaker_name

    store = _store(args)
    if args.action == "reset":
        if not args.name:
            raise UsageError("v6 breaker reset needs the breaker's NAME")
        name = check_breaker_name(args.name)
        store.verify("breaker_events")  # a damaged table is named, never appended to
        request_reset(store, name, datetime.now(UTC), "reset by hand (v6 breaker reset)")
        print(
            f"reset of {name} requested in {store.root}: a running engine applies it at its "
            "next cycle; an engine started later starts with it reset"
        )
        return 0
    for name, state, detail in _breaker_states(store):
        print(f"{name:<20} {state:<8} {detail}".rstrip())
    return 0


def cmd_futures(args: argparse.Namespace) -> int:
    """``v6 futures correlate``: lead-lag of each future against its ETF."""
    from v6.futures.correlate import COLUMNS, correlate, table_text

    store = _store(args)
    frame = store.read("futures_snapshots", columns=COLUMNS)
    results = correlate(frame, args.max_lag)
    if args.json:
        print(json.dumps([r.as_json() for r in results], indent=2))
    elif not results:
        print(
            f"no futures snapshots in {store.root}: run a session with futures enabled "
            "(futures.enabled: true) first"
        )
    else:
        print(table_text(results))
    return 0


def _max_lag(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_LAG:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_LAG}, got {value}")
    return value


MAX_LAG = 200  # cycles; a lead of days says nothing about the next move


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``v6 dashboard``: serve the Dash app over the store until Ctrl-C or SIGTERM."""
    config = load_config(args.config)
    settings = config.dashboard
    try:
        if args.host is not None:
            settings = attrs.evolve(settings, host=args.host)
        if args.port is not None:
            settings = attrs.evolve(settings, port=args.port)
    except ValueError as exc:  # the field's validator: `--port 70000`
        raise ConfigError(*first_problem(exc, "dashboard"), "command line") from None
    if args.host is not None:
        from v6.config_rules import validate_dashboard_host

        problem = validate_dashboard_host(args.host)
        if problem is not None:
            raise UsageError(f"--host: {problem}")
    from dash_app.server import exit_process, serve

    store = args.store if args.store is not None else config.store.path
    exit_process(serve(store, settings))


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``v6`` argument parser (one subcommand per user task)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", "-v", action="store_true", help="log INFO to stderr")
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config",
        metavar="PATH",
        help="YAML config file (default: the embedded sim defaults)",
    )

    parser = V6ArgumentParser(
        prog="v6", description="Automated options trading for Interactive Brokers."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run", parents=[common, config], help="run a trading session (sim by default)"
    )
    run.add_argument("--cycles", type=_positive_int, metavar="N", help="stop after N cycles")
    run.add_argument("--seed", type=int, metavar="S", help="override sim.seed")
    run.add_argument("--store", metavar="PATH", help="override store.path")
    run.add_argument(
        "--live", action="store_true", help="confirm live trading (config mode must be live)"
    )
    run.set_defaults(handler=cmd_run)

    plugins = commands.add_parser("plugins", parents=[common], help="list installed plugins")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.add_argument(
        "--settings",
        metavar="NAME",
        help="print plugin NAME's settings: type, default and meaning of each",
    )
    plugins.set_defaults(handler=cmd_plugins)

    plugin = commands.add_parser("plugin", help="write a new plugin package")
    plugin_commands = plugin.add_subparsers(dest="plugin_command", metavar="ACTION", required=True)
    new = plugin_commands.add_parser(
        "new",
        parents=[common],
        help="write a ready-to-install plugin package (pyproject, module, tests, README)",
    )
    new.add_argument("name", metavar="NAME", help="the plugin's name, e.g. pin_risk")
    new.add_argument(
        "--kind",
        required=True,
        choices=["strategy", "exit_rule", "regime", "strike_selector"],
        help="what the plugin is",
    )
    new.add_argument(
        "--dir",
        default=".",
        metavar="PATH",
        help="where to create the package directory v6-NAME (default: here)",
    )
    new.set_defaults(handler=cmd_plugin_new)

    check = commands.add_parser(
        "check-config", parents=[common, config], help="validate a config file and exit"
    )
    check.set_defaults(handler=cmd_check_config)

    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--store", metavar="PATH", help="the store to read (default: store.path)")

    explain = commands.add_parser(
        "explain",
        parents=[common, config, store],
        help="why a position was held or closed: every rule's verdict",
    )
    explain.add_argument("position_id", metavar="POSITION_ID")
    explain.add_argument(
        "--history", type=_positive_int, default=20, metavar="N", help="show the last N runs"
    )
    explain.set_defaults(handler=cmd_explain)

    breaker = commands.add_parser(
        "breaker", parents=[common, config, store], help="show or reset circuit breakers"
    )
    breaker.add_argument("action", choices=["status", "reset"])
    breaker.add_argument("name", nargs="?", metavar="NAME", help="the breaker to reset")
    breaker.set_defaults(handler=cmd_breaker)

    futures = commands.add_parser("futures", help="analyse the index futures snapshots")
    futures_commands = futures.add_subparsers(
        dest="futures_command", metavar="ACTION", required=True
    )
    correlate = futures_commands.add_parser(
        "correlate",
        parents=[common, config, store],
        help="cross-correlation, best lag and out-of-sample hit rate and IC per future/ETF",
    )
    correlate.add_argument(
        "--max-lag",
        type=_max_lag,
        default=DEFAULT_MAX_LAG,
        metavar="N",
        help=f"lags -N..N cycles (default {DEFAULT_MAX_LAG})",
    )
    correlate.add_argument("--json", action="store_true", help="machine-readable output")
    correlate.set_defaults(handler=cmd_futures)
    dashboard = commands.add_parser(
        "dashboard",
        parents=[common, config, store],
        help="serve the dashboard (Dash app) over the store, on 127.0.0.1:8050 by default",
    )
    dashboard.add_argument(
        "--host",
        metavar="HOST",
        help="address to listen on (default: dashboard.host, 127.0.0.1); another machine "
        "needs V6_DASHBOARD_USER and V6_DASHBOARD_PASSWORD in the environment",
    )
    dashboard.add_argument(
        "--port", type=int, metavar="PORT", help="TCP port (default: dashboard.port, 8050)"
    )
    dashboard.set_defaults(handler=cmd_dashboard)
    from v6.backtest.cli import register as register_backtest
    from v6.data_import.cli import register as register_data

    register_data(commands, common, config)
    register_backtest(commands, common, config)
    from v6.sweep.cli import register as register_sweep

    register_sweep(commands, common, config)
    add_predictions_command(commands, [common, config, store], cmd_predictions)

    from v6.ops.commands import add_commands  # health, backup, restore, store

    add_commands(commands, common, config, store)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``v6`` console script; returns the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    handler = configure_logging(args.verbose)
    try:
        return int(args.handler(args))
    except V6Error as exc:
        log.debug("v6 error", exc_info=True)
        from v6.ops.secrets import Redactor  # an IB refusal names the account: mask it

        message = Redactor()("v6: " + " ".join(str(exc).splitlines()))
        print(_printable(message), file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:  # before run_session handles signals (config, plugins)
        print("v6: interrupted", file=sys.stderr)
        return 130
    except Exception:
        log.exception("unexpected error (a bug in V6 or a plugin; please report it)")
        return 1
    finally:
        # main() may run many times in one process (tests, embedding): leave no handler.
        logging.getLogger().removeHandler(handler)


if __name__ == "__main__":
    raise SystemExit(main())
