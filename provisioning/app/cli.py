"""The `sipfleet` command: serve, token create, db upgrade, db status.

A bad configuration prints one line naming the setting and exits with status 2; no
traceback reaches the operator. The commands other than `serve` use the database beside
a running server without ever stopping it (`provisioning.app.cli_database`), and their
errors name the data directory (or database) they used.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

import asyncpg

from db import migrate
from db import tokens as token_queries
from db.errors import DatabaseError
from provisioning.app.cli_database import CliDatabaseError, describe_target, open_cli_database
from provisioning.app.logs import configure_logging
from provisioning.app.runloop import run_main
from provisioning.app.serve import serve
from provisioning.app.service import StartupError
from provisioning.auth import Level, hash_token, new_token
from provisioning.config import ENV_PREFIX, SETTING_FIELDS, ConfigError, Settings, load_settings

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


def _serve(settings: Settings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop)

    run_main(main)


def _argument_text(option: str, value: str) -> str:
    """A command-line value PostgreSQL can store (argv bytes that are not UTF-8 arrive as
    lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{option}: {value!r} is not valid UTF-8") from None
    return value.strip()


def _token_owner(args: argparse.Namespace) -> tuple[Level, str | None, str | None]:
    """The level, customer and reseller of the token asked for, or one line on misuse."""
    level = Level[args.level]
    a_level = ("an " if level.name[0] in "AEIOU" else "a ") + level.name
    customer = _argument_text("--customer", args.customer) if args.customer else None
    reseller = _argument_text("--reseller", args.reseller) if args.reseller else None
    if level <= Level.OWNER:
        if not customer:
            raise ConfigError(f"--customer: {a_level} token belongs to a customer")
        if reseller:
            raise ConfigError(f"--reseller: {a_level} token belongs to a customer")
        return level, customer.lower(), None
    if customer:
        raise ConfigError(f"--customer: {a_level} token belongs to no customer")
    if level is Level.RESELLER:
        if not reseller:
            raise ConfigError("--reseller: a RESELLER token belongs to a reseller")
        return level, None, reseller.lower()
    if reseller:
        raise ConfigError("--reseller: an ADMIN token belongs to no reseller")
    return level, None, None


def _token_create(settings: Settings, args: argparse.Namespace) -> None:
    level, customer, reseller = _token_owner(args)
    name = _argument_text("--name", args.name)
    if len(name) > 200:
        raise ConfigError("--name: at most 200 characters")

    async def main() -> None:
        token = new_token()
        async with (
            open_cli_database(settings, upgrade=True) as database,
            database.pool.acquire() as conn,
        ):
            try:
                await token_queries.insert_token(
                    conn,
                    token_hash=hash_token(token),
                    level=level.name,
                    customer_id=customer,
                    reseller_id=reseller,
                    name=name,
                )
            except asyncpg.ForeignKeyViolationError:
                option, value = ("--customer", customer) if customer else ("--reseller", reseller)
                noun = option.removeprefix("--")
                raise ConfigError(f"{option}: no {noun} {value!r} in {database.where}") from None
        print(token)

    run_main(main)


def _db(settings: Settings, command: str) -> None:
    async def main() -> None:
        async with (
            open_cli_database(settings, upgrade=False) as database,
            database.pool.acquire() as conn,
        ):
            if command == "upgrade":
                applied = await migrate.upgrade(conn)
                print(f"applied: {applied}" if applied else "database is up to date")
            rows = await migrate.status(conn)
        for row in rows:
            print(f"{row.version:04d} {row.name:<30} {'applied' if row.applied else 'pending'}")

    run_main(main)


def _one_line(message: str, where: str | None) -> str:
    """The error as one line, naming the data directory (or database) the command used."""
    line = " ".join(message.split())
    if where is not None and where.split(" ", 1)[1] not in line:
        line += f" ({where})"
    return f"sipfleet: {line}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    where: str | None = None
    try:
        settings = _settings(args)
        configure_logging(settings.log_format, settings.log_level)
        if args.command == "serve":
            _serve(settings)
            return 0
        where = describe_target(settings)
        if args.command == "token":
            _token_create(settings, args)
        else:
            _db(settings, args.db_command)
    except (ConfigError, StartupError, DatabaseError, CliDatabaseError) as exc:
        print(_one_line(str(exc), where), file=sys.stderr)
        return EXIT_CONFIG
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        if where is None:
            raise
        # the database went away or refused the command (a server stopping meanwhile)
        print(_one_line(f"database error: {type(exc).__name__}: {exc}", where), file=sys.stderr)
        return EXIT_CONFIG
    return 0
