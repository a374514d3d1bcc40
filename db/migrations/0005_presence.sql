-- Presence and BLF: the state of each watched extension (with its ordering sequence),
-- the publications behind it (RFC 3903), and the subscriptions each node holds (so that a
-- restarted node resumes them).

-- One row per extension that has had any presence change. seq is bumped by one in the
-- transaction that stores each accepted change (the row lock orders concurrent writers on
-- every node); state is the full document (sipcore.presence.state.state_to_json).
CREATE TABLE presence_state (
    extension_id text PRIMARY KEY REFERENCES extensions (id) ON DELETE CASCADE,
    seq bigint NOT NULL DEFAULT 0,
    state jsonb NOT NULL DEFAULT '{}',
    updated timestamptz NOT NULL DEFAULT now()
);

-- RFC 3903 event state publications (PUBLISH), addressed by their entity tag.
CREATE TABLE presence_publications (
    etag text PRIMARY KEY,
    extension_id text NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    event text NOT NULL CHECK (event IN ('presence', 'dialog')),
    phone_id text REFERENCES sip_phones (id) ON DELETE CASCADE,
    document jsonb NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX presence_publications_expires ON presence_publications (expires_at);
CREATE INDEX presence_publications_extension ON presence_publications (extension_id);

-- Subscriptions (RFC 6665) held by a node: enough of the dialog and transport to send
-- NOTIFYs again after a restart. local_cseq/version are checkpoints; a resumed
-- subscription continues well above them.
CREATE TABLE presence_subscriptions (
    id text PRIMARY KEY,
    node text NOT NULL,
    phone_id text REFERENCES sip_phones (id) ON DELETE CASCADE,
    extension_id text NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    package text NOT NULL CHECK (package IN ('dialog', 'presence', 'message-summary')),
    document jsonb NOT NULL,
    expires_at timestamptz NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX presence_subscriptions_node ON presence_subscriptions (node, expires_at);
