"""The operations commands: ``v6 health``, ``v6 backup``, ``v6 restore``, ``v6 store ...``.

Registered on ``v6``'s parser by :func:`add_commands`; each handler returns the exit
status (``v6 health``: 0 healthy, 1 degraded, 2 down) or raises a V6Error the CLI turns
into one line.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from v6.config_loader import load_config


def _store_path(args: argparse.Namespace) -> str:
    return args.store if args.store is not None else load_config(args.config).store.path


def _existing_store(args: argparse.Namespace) -> Any:
    from v6.store.delta_store import DeltaStore
    from v6.store.integrity import check_existing_store

    path = _store_path(args)
    check_existing_store(path)
    return DeltaStore(path)


def cmd_health(args: argparse.Namespace) -> int:
    """``v6 health``: the dashboard's health evaluation, graded; the exit status is the grade."""
    from v6.health import evaluate

    settings = load_config(args.config).dashboard
    result = evaluate(_existing_store(args), settings)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
        return result.exit_status
    print(f"{result.level.upper()}: store {result.store}")
    width = max(len(c.name) for c in result.checks)
    for check in result.checks:
        print(f"  {check.name:<{width}}  {'ok ' if check.ok else 'NO '}  {check.detail}")
    tripped = ", ".join(result.breakers_tripped) or "none"
    print(f"  breakers tripped: {tripped}")
    return result.exit_status


def cmd_backup(args: argparse.Namespace) -> int:
    """``v6 backup DEST``: a consistent copy of every table, while the engine runs."""
    from v6.ops.backup import backup

    manifest = backup(_store_path(args), args.dest, say=lambda text: print(f"  {text}"))
    rows = sum(t["rows"] for t in manifest["tables"].values())
    print(f"backed up {len(manifest['tables'])} tables ({rows:,} rows) into {args.dest}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """``v6 restore SRC``: verify a backup and make it the store."""
    from v6.ops.backup import restore

    target = _store_path(args)
    kept = restore(args.src, target, force=args.force, say=lambda text: print(f"  {text}"))
    print(f"restored {args.src} into {target}")
    if kept is not None:
        print(f"the replaced store's tables are kept in {kept} (delete it once satisfied)")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    """``v6 store info | optimize | vacuum``."""
    from v6.ops import store_admin

    store = _existing_store(args)
    if args.store_command == "info":
        tables = store_admin.info(store)
        if args.json:
            print(json.dumps([t.to_json() for t in tables], indent=1))
        else:
            print(store_admin.format_info(tables))
    elif args.store_command == "optimize":
        for what, done in store_admin.optimize(store):
            print(f"{done.table}: {what}, {done.files_before} -> {done.files_after} files")
    else:
        deleted = store_admin.vacuum(store.root, args.retain)
        for table, count in deleted.items():
            print(f"{table}: {count} files deleted")
        print(f"vacuumed {len(deleted)} tables, kept {args.retain} h of history")
    return 0


def _hours(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole hours, got {text!r}") from None


def add_commands(
    commands: Any,
    common: argparse.ArgumentParser,
    config: argparse.ArgumentParser,
    store: argparse.ArgumentParser,
) -> None:
    """Add the operations commands to ``v6``'s subcommands."""
    health = commands.add_parser(
        "health",
        parents=[common, config, store],
        help="is the engine healthy? exit 0 healthy, 1 degraded, 2 down (as GET /health)",
    )
    health.add_argument("--json", action="store_true", help="the same JSON as GET /health")
    health.set_defaults(handler=cmd_health)

    backup = commands.add_parser(
        "backup",
        parents=[common, config, store],
        help="copy every table at one moment into DEST (safe while the engine runs)",
    )
    backup.add_argument("dest", metavar="DEST", help="a new directory for the backup")
    backup.set_defaults(handler=cmd_backup)

    restore = commands.add_parser(
        "restore",
        parents=[common, config, store],
        help="verify the backup SRC and make it the store (--store, else store.path)",
    )
    restore.add_argument("src", metavar="SRC", help="a directory `v6 backup` wrote")
    restore.add_argument(
        "--force", action="store_true", help="replace an existing store (kept aside)"
    )
    restore.set_defaults(handler=cmd_restore)

    store_command = commands.add_parser("store", help="inspect and maintain the store")
    actions = store_command.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    info = actions.add_parser(
        "info", parents=[common, config, store], help="tables, versions, files, sizes, rows"
    )
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=cmd_store)
    optimize = actions.add_parser(
        "optimize",
        parents=[common, config, store],
        help="compact every table; Z-order those the dashboard reads by position",
    )
    optimize.set_defaults(handler=cmd_store)
    vacuum = actions.add_parser(
        "vacuum",
        parents=[common, config, store],
        help="delete files replaced more than HOURS ago (at least 1)",
    )
    vacuum.add_argument("--retain", type=_hours, required=True, metavar="HOURS")
    vacuum.set_defaults(handler=cmd_store)
