"""Errors of the database layer."""

import asyncpg


class DatabaseError(Exception):
    """The database cannot be used as configured; the message says why, in one line."""


class SchemaTooNewError(DatabaseError):
    """The database was migrated by a newer sipfleet than this one."""


# What a database call raises when the database is away (restarting, failing over,
# unreachable) — and, as the rest of the code has always treated them, its refusals.
# asyncpg's InternalClientError belongs here: when PostgreSQL shuts down, an idle pooled
# connection has read the server's FATAL message but its socket is not closed yet; the
# pool hands it out and its first query fails with "another operation is in progress".
DB_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
