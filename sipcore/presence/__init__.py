"""Presence and BLF, sans-IO: event-package bodies (RFC 4235 dialog-info, RFC 3863 PIDF,
RFC 3842 message-summary), per-User-Agent body quirks, the RFC 6665 notifier-side
subscription state machine and the dialog a SUBSCRIBE forms (`dialog`), the NOTIFY's
body and bytes (`notify`), RFC 3903 publications, the per-extension state with its
ordering rule, and NOTIFY coalescing. The asyncio side is `sipcore.server.presence`.
"""
