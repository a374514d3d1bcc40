"""The provisioning file server: `/prov/<file>` and `/prov/<secret>/<file>`.

`server` is the aiohttp handler, `loader` turns a phone record into the rendering context,
`throttle` slows down scanners walking MAC ranges, `recorder` writes what fetches cause in
batches, `templates` holds the operators' custom templates in memory.
"""
