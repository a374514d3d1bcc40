"""REST API route families, one module each."""
