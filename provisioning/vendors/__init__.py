"""Phone config rendering per vendor: catalogue helpers, file names, User-Agents, templates.

`context` holds the data a template needs, `filenames` recognises what a phone asks for,
`useragent` identifies the phone, `render` turns a context into a config body, and one
small module per vendor maps the reference's soft-key functions to the vendor's key codes.
"""
