"""The asyncio side of the SIP core: transports, dispatcher and handlers."""
