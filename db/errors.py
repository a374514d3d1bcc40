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
DB_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

# The subset of DB_ERRORS that says the database cannot be reached or cannot take the
# request now (as opposed to refusing the request's data): a caller answers "try again
# later" (HTTP 503, SIP 503) to these. A read-only transaction error is a standby: the
# server this connection reached was demoted, or is not yet promoted, in a fail-over.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database is away (restarting, failing over, unreachable),
    not that it refused what was asked (asyncpg's encoding errors are ValueErrors)."""
    return isinstance(exc, _UNAVAILABLE) and not isinstance(exc, ValueError)
