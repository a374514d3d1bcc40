"""PostgreSQL for sipfleet: the pool, the embedded server, migrations and every query.

SQL lives in this package and nowhere else. Query functions take a connection (the
caller owns the transaction) and return frozen dataclasses or plain values.
"""
