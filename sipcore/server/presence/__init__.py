"""The presence notifier's I/O side (the pure decisions are `sipcore.presence`).

    service.py        PresenceService: builds the parts below, starts/stops them, sweeps
    subscriptions.py  SUBSCRIBE (RFC 6665 §4.2.1): admit, create, refresh, fetch, expire
    table.py          the subscriptions held here, by id and dialog; limits; expiry scan
    fanout.py         Notifier: a new state -> coalesced NOTIFYs sent, answers, endings
    sync.py           StateSync: states kept current — commits here, other nodes' on LISTEN
    bindings.py       the registrar's on/offline changes, committed in batches
    publish.py        PUBLISH (RFC 3903) and the expiry of publications
    changes.py        committing one change / a batch in PostgreSQL (shared with REST)
    store.py          subscriptions stored per node; resume.py: resumed after a restart
    resource.py       the extension a SUBSCRIBE/PUBLISH names
    model.py          LiveSub, Watched, PresenceConfig, SipPort; tasks.py: background tasks

Imports go one way: service -> subscriptions/publish/bindings/resume -> sync -> fanout ->
table/store -> model.
"""
