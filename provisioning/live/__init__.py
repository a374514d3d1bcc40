"""The operators' live view: event fan-out and stream, dashboard sign-in, page, metrics."""
