"""sipfleet's SIP core: sans-IO protocol logic, with asyncio adapters in `sipcore.server`."""
