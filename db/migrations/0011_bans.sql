-- Addresses ignored after repeated failed authentications, shared by every node of the
-- database: the node whose limit an address reached writes its row, every node reads
-- the rows changed since its last look (a short poll), so a ban set on one node holds
-- on the others. `changed` is the time of the last write, for that poll; rows stay a
-- day after they end (what was banned, by whom, why), then they are pruned.
CREATE TABLE bans (
    address text PRIMARY KEY,
    until timestamptz NOT NULL,
    reason text NOT NULL,
    node text NOT NULL DEFAULT '',
    created timestamptz NOT NULL DEFAULT now(),
    changed timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX bans_changed ON bans (changed);
CREATE INDEX bans_until ON bans (until);
