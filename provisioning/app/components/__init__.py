"""The service's components: each `run(ctx)` is an async context manager that starts on
enter and stops on exit.
"""
