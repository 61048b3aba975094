"""``v6 data import``: the command line of :mod:`v6.data_import.importer`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from v6.data_import.layouts import FORMATS


def register(commands: Any, *parents: argparse.ArgumentParser) -> None:
    """Add ``v6 data import`` to the ``v6`` command's subparsers."""
    data = commands.add_parser("data", help="historical option data")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import",
        parents=list(parents),
        help="import end-of-day option chain files into chain_snapshots (all or nothing)",
    )
    imp.add_argument("paths", nargs="+", metavar="PATH", help="CSV files of one layout")
    imp.add_argument("--format", required=True, choices=FORMATS, help="the files' layout")
    imp.add_argument("--store", metavar="PATH", help="the store to write (default: store.path)")
    imp.add_argument("--json", action="store_true", help="print the import report as JSON")
    imp.set_defaults(handler=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from v6.config_loader import load_config
    from v6.data_import.importer import import_files

    config = load_config(args.config)
    store = args.store if args.store is not None else config.store.path
    report = import_files(args.paths, args.format, store, config)
    if args.json:
        print(json.dumps(report.as_dict(), sort_keys=True))
    else:
        print(report.text())
        print(f"store: {store}", file=sys.stderr)
    return 0
