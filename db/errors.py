"""Errors of the database layer."""


class DatabaseError(Exception):
    """The database cannot be used as configured; the message says why, in one line."""


class SchemaTooNewError(DatabaseError):
    """The database was migrated by a newer sipfleet than this one."""
