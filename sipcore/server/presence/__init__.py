"""The presence notifier's I/O side: SUBSCRIBE, PUBLISH, NOTIFY fan-out, stored
subscriptions.
"""
