"""Zero-touch provisioning through the phone vendors' redirect services.

A phone fresh out of its box asks its vendor's cloud where to fetch its configuration;
sipfleet registers the phone's MAC there, pointing at its own provisioning URL. One small
module per service holds the protocol (request building and answer parsing as pure
functions, the calls in the order the service documents them); `runner.py` does the work
in the background from jobs kept in the database, `sync.py` decides what is wanted when a
record changes, `registry.py` turns the settings into clients.
"""
