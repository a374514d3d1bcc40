#!/usr/bin/env python3
"""Start (or find) the embedded PostgreSQL for the benchmark and print its URI; `stop`
stops it. usage: pg.py DATA_DIR [stop]"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from db.embedded import start_embedded

if __name__ == "__main__":
    root = Path(sys.argv[1])
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    server = start_embedded(root)
    if len(sys.argv) > 2 and sys.argv[2] == "stop":
        server.stop()
    else:
        print(server.uri)
