"""The IP policy gate: OPEN / LOCKED / ROAMING per phone.

`decision` is the pure verdict, `geoip` the country lookup, `countries` the ISO codes,
`identity` the User-Agent check, `forwarded` the trusted HTTP edges, and `service.IpGate`
puts them together with the database (the object the SIP core and the file server call).
"""
