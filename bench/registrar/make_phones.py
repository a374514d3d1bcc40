#!/usr/bin/env python3
"""Create N SIP phones in sipfleet's database and write their credentials as a SIPp user
file (`SEQUENTIAL`, then `username;password` lines), like ../shared/bench/harness/
gen_users.py does for Kamailio — same format, sipfleet's own 32-char credentials.

usage: make_phones.py --dsn postgresql://… --count 10000 --realm bench.test --csv users.csv
The secret key must be the one the sipfleet under test uses (SIPFLEET_SECRET_KEY, hex).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg

from db import migrate
from provisioning.credentials import SecretBox, new_credentials

COLUMNS = ["customer_id", "model_id", "username", "password_enc", "ha1_md5", "ha1_sha256"]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--realm", default="bench.test")
    parser.add_argument("--secret-key", required=True, help="hex, 32 bytes")
    parser.add_argument("--csv", required=True)
    parser.add_argument(
        "--locked-to",
        default=None,
        help="create the phones LOCKED to this address (as after their first registration); "
        "default OPEN: the first REGISTER of each phone locks it through the IP gate",
    )
    args = parser.parse_args()
    box = SecretBox(bytes.fromhex(args.secret_key))
    conn = await asyncpg.connect(args.dsn)
    try:
        await migrate.upgrade(conn)
        customer = await conn.fetchval("INSERT INTO customers (name) VALUES ('bench') RETURNING id")
        model = await conn.fetchval(
            "INSERT INTO sip_phone_models (name, vendor, model, kind) "
            "VALUES ('bench-desk', 'generic', 'Bench', 'desk') "
            "ON CONFLICT (name) DO UPDATE SET vendor = EXCLUDED.vendor RETURNING id"
        )
        rows, users = [], []
        for _ in range(args.count):
            stored, password = new_credentials(box, args.realm)
            rows.append(
                (
                    customer,
                    model,
                    stored.username,
                    stored.password_enc,
                    stored.ha1_md5,
                    stored.ha1_sha256,
                )
            )
            users.append(f"{stored.username};{password}")
        await conn.copy_records_to_table(
            "sip_phones",
            records=rows,
            columns=[
                "customer_id",
                "model_id",
                "username",
                "password_enc",
                "ha1_md5",
                "ha1_sha256",
            ],
        )
        if args.locked_to:
            await conn.execute(
                "UPDATE sip_phones SET ip_mode = 'LOCKED', ip_address = $1", args.locked_to
            )
        await conn.execute(
            "INSERT INTO phone_status (phone_id) SELECT id FROM sip_phones ON CONFLICT DO NOTHING"
        )
    finally:
        await conn.close()
    Path(args.csv).write_text("SEQUENTIAL\n" + "\n".join(users) + "\n")
    print(f"{args.count} phones created, users in {args.csv}")


if __name__ == "__main__":
    asyncio.run(main())
