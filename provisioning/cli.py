"""The `sipfleet` command: serve, token create, db upgrade, db status.

A bad configuration prints one line naming the setting and exits with status 2; no
traceback reaches the operator.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from db import migrate
from db import tokens as token_queries
from db.errors import DatabaseError
from provisioning.auth import Level, hash_token, new_token
from provisioning.config import ENV_PREFIX, SETTING_FIELDS, ConfigError, Settings, load_settings
from provisioning.logs import configure_logging
from provisioning.service import StartupError, open_database, serve

EXIT_CONFIG = 2


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    group = parser.add_argument_group(
        "settings",
        f"each also read from the config file and from {ENV_PREFIX}<NAME> in the environment",
    )
    defaults = Settings()
    for name, item in SETTING_FIELDS.items():
        default = "" if item.metadata.get("secret") else getattr(defaults, name)
        help_text = f"{item.metadata['help']} [env {ENV_PREFIX}{name.upper()}"
        help_text += f"; default {default!r}]" if default != "" else "]"
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            metavar=str(item.type).upper(),
            default=None,
            help=help_text.replace("%", "%%"),
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sipfleet",
        description="SIP registrar, presence and provisioning server for a fleet of phones.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the service")
    _add_setting_options(serve_parser)

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create an API token and print it")
    create.add_argument("--level", required=True, choices=[level.name for level in Level])
    create.add_argument("--customer", help="customer id (VIEWER, MANAGER, OWNER)")
    create.add_argument("--reseller", help="reseller id (RESELLER)")
    create.add_argument("--name", default="", help="a note to recognise the token by")
    _add_setting_options(create)

    database = commands.add_parser("db", help="database schema")
    db_commands = database.add_subparsers(dest="db_command", required=True)
    _add_setting_options(db_commands.add_parser("upgrade", help="apply pending migrations"))
    _add_setting_options(db_commands.add_parser("status", help="list migrations"))
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in SETTING_FIELDS}
    return load_settings(config_file=args.config, overrides=overrides)


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    except ImportError:
        asyncio.run(main())


def _serve(settings: Settings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop)

    _run(main)


def _token_create(settings: Settings, args: argparse.Namespace) -> None:
    level = Level[args.level]
    if level in (Level.VIEWER, Level.MANAGER, Level.OWNER) and not args.customer:
        raise ConfigError(f"--customer: a {level.name} token belongs to a customer")
    if level is Level.RESELLER and not args.reseller:
        raise ConfigError("--reseller: a RESELLER token belongs to a reseller")

    async def main() -> None:
        token = new_token()
        async with open_database(settings) as database, database.pool.acquire() as conn:
            await token_queries.insert_token(
                conn,
                token_hash=hash_token(token),
                level=level.name,
                customer_id=args.customer if level <= Level.OWNER else None,
                reseller_id=args.reseller if level is Level.RESELLER else None,
                name=args.name,
            )
        print(token)

    _run(main)


def _db(settings: Settings, command: str) -> None:
    async def main() -> None:
        async with (
            open_database(settings, upgrade=False) as database,
            database.pool.acquire() as conn,
        ):
            if command == "upgrade":
                applied = await migrate.upgrade(conn)
                print(f"applied: {applied}" if applied else "database is up to date")
            rows = await migrate.status(conn)
        for row in rows:
            print(f"{row.version:04d} {row.name:<30} {'applied' if row.applied else 'pending'}")

    _run(main)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
        configure_logging(settings.log_format, settings.log_level)
        if args.command == "serve":
            _serve(settings)
        elif args.command == "token":
            _token_create(settings, args)
        else:
            _db(settings, args.db_command)
    except (ConfigError, StartupError, DatabaseError) as exc:
        print(f"sipfleet: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:  # asyncpg errors on a bad customer id and the like
        name = type(exc).__name__
        if name == "ForeignKeyViolationError":
            print("sipfleet: --customer/--reseller: no such customer or reseller", file=sys.stderr)
            return EXIT_CONFIG
        raise
    return 0
