"""Transports (UDP, TCP, TLS, WebSocket), their listeners and the client transactions
sipfleet sends over them.
"""
