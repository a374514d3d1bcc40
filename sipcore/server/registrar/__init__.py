"""The registrar's I/O side: the REGISTER handler, digest + gate, the phone directory, the
write-behind queue, keep-alives, bans.
"""
