#!/usr/bin/env python3
"""Create a fleet of phones the way an operator does: through sipfleet's REST API.

One customer (POST /api/customers), one extension per phone (POST /api/extensions), one
phone per extension (PUT /api/pbx/sipphone) with the default settings — no `ip` in the
body, so the phone is OPEN and locks to the address of its first fetch or registration —
a real catalogue model (default `yealink-t54w`) and a MAC from the model vendor's OUI.
Every call carries the ADMIN token sipfleet wrote into its data directory.

Writes a tab-separated file, one line a phone:
    mac <TAB> phone id <TAB> extension number <TAB> username <TAB> password
(username/password as the API answered them; the boot-storm client does not use them, it
reads the credentials from the file each phone fetches), and with --sipp-csv a SIPp
injection file (`SEQUENTIAL`, then `username;password`).

usage: fleet.py --api http://127.0.0.1:8290 --token-file DATA/admin-token --count 10000 \
           --out phones.tsv [--sipp-csv users.csv] [--first 0] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

# vendor OUIs for the MACs (the User-Agent of a Yealink carries its MAC, and sipfleet checks
# that it is the MAC of the file asked for)
OUI = {"yealink": "001565", "snom": "000413", "grandstream": "000B82", "fanvil": "0C383E"}


def mac_for(model: str, index: int) -> str:
    """12 upper-case hex digits: the vendor's OUI and the phone's index."""
    return OUI.get(model.split("-", 1)[0], "001565") + f"{index:06X}"


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: dict[str, Any]
) -> dict[str, Any]:
    """One API call; a non-2xx answer stops the run (the fleet must be created whole)."""
    for attempt in range(5):
        try:
            async with session.request(method, url, json=body) as response:
                text = await response.text()
                if response.status in (200, 201):
                    answer: dict[str, Any] = json.loads(text)
                    return answer
                if response.status >= 500 and attempt < 4:
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                raise SystemExit(f"{method} {url} -> {response.status}: {text[:300]}")
        except (TimeoutError, aiohttp.ClientConnectionError) as error:
            if attempt == 4:
                raise SystemExit(f"{method} {url}: {error!r}") from None
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", required=True, help="http://HOST:PORT of sipfleet")
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="index of the first MAC")
    parser.add_argument("--model", default="yealink-t54w")
    parser.add_argument("--customer-name", default="Bench building")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sipp-csv")
    args = parser.parse_args()

    token = Path(args.token_file).read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    rows: list[tuple[str, str, str, str, str] | None] = [None] * args.count
    t0 = time.monotonic()
    async with aiohttp.ClientSession(
        headers=headers, connector=connector, timeout=timeout
    ) as session:
        customer = await call(
            session,
            "POST",
            f"{args.api}/api/customers",
            {"name": f"{args.customer_name} {args.first}-{args.first + args.count - 1}"},
        )
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.count):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                index = args.first + i
                number = str(100000 + index)
                extension = await call(
                    session,
                    "POST",
                    f"{args.api}/api/extensions",
                    {"customer": customer["_id"], "number": number, "name": f"Desk {number}"},
                )
                mac = mac_for(args.model, index)
                phone = await call(
                    session,
                    "PUT",
                    f"{args.api}/api/pbx/sipphone",
                    {
                        "customer": customer["_id"],
                        "extension": extension["_id"],
                        "sipPhoneModel": args.model,
                        "macAddress": mac,
                    },
                )
                assert phone["ip"]["mode"] == "OPEN", phone["ip"]
                rows[i] = (mac, phone["_id"], number, phone["username"], phone["password"])

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.monotonic() - t0
    done = [r for r in rows if r is not None]
    assert len(done) == args.count
    Path(args.out).write_text("".join("\t".join(r) + "\n" for r in done))
    if args.sipp_csv:
        Path(args.sipp_csv).write_text("SEQUENTIAL\n" + "".join(f"{r[3]};{r[4]}\n" for r in done))
    print(
        f"created through the API: 1 customer, {args.count} extensions, {args.count} phones "
        f"({args.model}, ip OPEN) in {elapsed:.1f} s ({2 * args.count / elapsed:.0f} calls/s)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    asyncio.run(main())
