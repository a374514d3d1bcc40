"""sipfleet's phone inventory, REST API, provisioning file server, IP gate and live view;
the application shell (CLI, service, workers, components) is `provisioning.app`.

ARCHITECTURE.md (at the repository root) gives the layers, the life of a config fetch,
and the worker and node model.
"""
