"""sipfleet's phone inventory, REST API, provisioning file server, IP gate and CLI."""
