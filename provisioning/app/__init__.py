"""The application shell: the `sipfleet` CLI, the service and its worker processes, the
HTTP application and the components they start.
"""
