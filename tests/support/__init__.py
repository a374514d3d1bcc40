"""What the tests share, by what it is (tests import from here, never from one another):

- sip_client: the one hand-written SIP client (UDP/TCP, digest, REGISTER, SUBSCRIBE,
  PUBLISH, answering NOTIFYs), its wire message `Msg` and `pidf_body`
- pjsua: pjsua2 phones (the process-wide endpoint, PjPhone, SharedTransport, buddies)
- waiting: waiting for a condition (in the event loop, or blocking)
- phones: making a phone (and its customer, extension) in the test database
- factories: database rows of test data (customers, extensions, phones, models)
- database: the template database's name, URIs, API tokens and Authorization headers
- sip_service: the in-process SIP service on the test database (config, starter)
- processes: `sipfleet serve` as a subprocess (start, ports, health, its PostgreSQL)
- workers: a served sipfleet's workers, HTTP per fresh connection, a rebinding phone
- outage, pgcluster, blackhole: PostgreSQL clusters the test controls, a TCP black
  hole, phones registering in a loop and the check that no acknowledged binding was lost
- kamailio: Kamailio as an edge proxy in front of the nodes
- geodb: a small GeoIP database writer
- browser, sse: a headless Chromium page; a Server-Sent Events reader
- sip_samples: real-world-shaped SIP messages
- apps by area (route lists, tenants, request bodies): api_world, dect, live,
  prov_app, prov_phones, redirect (+ redirect_fakes), render
"""
