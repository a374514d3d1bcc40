#!/usr/bin/env python3
"""After a storm: how many phones sipfleet itself says are online.

1. the REST API: GET /api/pbx/sipphone?online=true, every page (limit 1000), counted;
2. the status table (phone_status, read from the embedded PostgreSQL of the data
   directory): rows online, and the last `updated` — when the server recorded the last
   phone online — as seconds after T0; the bindings rows.

usage: verify.py --api http://127.0.0.1:8290 --token-file DATA/admin-token \
           --data-dir DATA --t0 EPOCH [--src SOURCE_TREE] [--before STATS.json]
       verify.py --data-dir DATA --snapshot STATS.json [--src SOURCE_TREE]
The first prints one JSON object; with --before it adds what the database did since the
snapshot (commits, rows inserted/updated/deleted per table, from pg_stat_database and
pg_stat_user_tables).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg


async def api_online(api: str, token: str) -> tuple[int, int, float]:
    """(phones listed online, pages read, seconds it took)."""
    t0 = time.monotonic()
    count, pages, cursor = 0, 0, None
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        while True:
            url = f"{api}/api/pbx/sipphone?online=true&limit=1000"
            if cursor:
                url += f"&cursor={cursor}"
            async with session.get(url) as response:
                response.raise_for_status()
                page = await response.json()
            pages += 1
            count += sum(1 for item in page["items"] if item["status"]["online"])
            cursor = page["next"]
            if not cursor:
                return count, pages, time.monotonic() - t0


async def db_stats(conn: asyncpg.Connection) -> dict[str, int]:
    """Counters of this database: commits, and rows written per table."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    stats = dict(
        await conn.fetchrow(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, "
            "tup_returned, tup_fetched FROM pg_stat_database WHERE datname = current_database()"
        )
    )
    for row in await conn.fetch(
        "SELECT relname, n_tup_ins AS ins, n_tup_upd AS upd, n_tup_del AS del, seq_scan, "
        "seq_tup_read, idx_scan FROM pg_stat_user_tables"
    ):
        for kind in ("ins", "upd", "del", "seq_scan", "seq_tup_read", "idx_scan"):
            stats[f"{row['relname']}.{kind}"] = row[kind] or 0
    return stats


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api")
    parser.add_argument("--token-file")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--t0", type=float)
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[2]))
    parser.add_argument("--snapshot", help="only write the database's counters to this file")
    parser.add_argument("--before", help="a --snapshot file: report the difference")
    parser.add_argument(
        "--stats-delay",
        type=float,
        default=11.0,
        help="seconds after T0's storm ended to wait before reading the counters (a "
        "PostgreSQL backend reports its counters up to 10 s late)",
    )
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    from db.embedded import running_embedded

    if args.snapshot:
        server = running_embedded(Path(args.data_dir))
        if server is None:
            raise SystemExit(f"no embedded PostgreSQL running in {args.data_dir}")
        conn = await asyncpg.connect(server.uri)
        try:
            Path(args.snapshot).write_text(json.dumps(await db_stats(conn)))
        finally:
            await conn.close()
        return

    checked_at = time.time()
    count, pages, seconds = await api_online(args.api, Path(args.token_file).read_text().strip())
    server = running_embedded(Path(args.data_dir))
    if server is None:
        raise SystemExit(f"no embedded PostgreSQL running in {args.data_dir}")
    conn = await asyncpg.connect(server.uri)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE online) AS online, "
            "extract(epoch FROM max(updated) FILTER (WHERE online)) AS last "
            "FROM phone_status"
        )
        bindings = await conn.fetchval("SELECT count(*) FROM bindings WHERE expires_at > now()")
        locked = await conn.fetchval("SELECT count(*) FROM sip_phones WHERE ip_mode = 'LOCKED'")
        after: dict[str, int] = {}
        if args.before:
            await asyncio.sleep(args.stats_delay)
            after = await db_stats(conn)
    finally:
        await conn.close()
    delta = {}
    if args.before:
        before = json.loads(Path(args.before).read_text())
        delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    print(
        json.dumps(
            {
                "db_delta": delta,
                "api_checked_after_t0_s": round(checked_at - args.t0, 2),
                "api_online": count,
                "api_pages": pages,
                "api_seconds": round(seconds, 2),
                "status_online": row["online"],
                "status_last_online_after_t0_s": (
                    round(float(row["last"]) - args.t0, 2) if row["last"] is not None else None
                ),
                "bindings": bindings,
                "phones_locked": locked,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
