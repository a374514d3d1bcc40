"""sipfleet's SIP core: sans-IO protocol logic, with its asyncio and database glue in
`sipcore.server`.

Everything here outside `sipcore.server` is pure: no sockets, no asyncio, no database.
ARCHITECTURE.md (at the repository root) gives the layers and their allowed imports, the
life of a REGISTER and of a SUBSCRIBE, and every fast lane with its general twin.
"""
