-- The inventory of sipfleet: tenants, extensions, phone models, SIP phones and their live
-- status, registrar bindings, templates, phones seen by provisioning, API tokens, events.
-- Field names follow shared/reference (002/003 for SIP phones, 000/001 for device
-- settings and auto-provisioning); nested groups of the reference (ringer, volume, codec,
-- network, purchaseInfo, softkeys) are jsonb documents validated by the API layer.

-- 24 hex characters, like the reference's ids. gen_random_uuid() is built into PG 13+;
-- bytes 7 and 9 of a v4 UUID carry fixed bits, so take the random bytes around them.
CREATE FUNCTION new_object_id() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        substring(uuid_send(gen_random_uuid()) FROM 1 FOR 6)
        || substring(uuid_send(gen_random_uuid()) FROM 11 FOR 6), 'hex')
$$;

CREATE TABLE resellers (
    id text PRIMARY KEY DEFAULT new_object_id(),
    name text NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    id text PRIMARY KEY DEFAULT new_object_id(),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    reseller_id text REFERENCES resellers (id) ON DELETE SET NULL,
    active boolean NOT NULL DEFAULT true,
    -- optional secret path segment for provisioning URLs (/prov/<secret>/<file>)
    provisioning_secret text UNIQUE,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_reseller ON customers (reseller_id);

CREATE TABLE extensions (
    id text PRIMARY KEY DEFAULT new_object_id(),
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    number text NOT NULL CHECK (number ~ '^[0-9]{3,64}$'),
    name text NOT NULL DEFAULT '',
    created timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, number)
);

-- Pickup groups and queues: the targets of PICKUPGROUP and QUEUE soft keys.
CREATE TABLE pickup_groups (
    id text PRIMARY KEY DEFAULT new_object_id(),
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name text NOT NULL,
    number text NOT NULL DEFAULT '' -- the feature code or group number phones dial
);
CREATE TABLE pickup_group_members (
    group_id text NOT NULL REFERENCES pickup_groups (id) ON DELETE CASCADE,
    extension_id text NOT NULL REFERENCES extensions (id) ON DELETE CASCADE,
    controller boolean NOT NULL DEFAULT false,
    PRIMARY KEY (group_id, extension_id)
);
CREATE TABLE queues (
    id text PRIMARY KEY DEFAULT new_object_id(),
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name text NOT NULL,
    number text NOT NULL DEFAULT ''
);

-- The catalogue. kind: desk | dect | sidepanel | softphone.
CREATE TABLE sip_phone_models (
    id text PRIMARY KEY DEFAULT new_object_id(),
    name text NOT NULL UNIQUE,                  -- e.g. 'yealink-t54w'
    vendor text NOT NULL,                       -- yealink, snom, grandstream, polycom, cisco, mitel, fanvil, gigaset
    model text NOT NULL,                        -- as the vendor names it: 'T54W'
    kind text NOT NULL CHECK (kind IN ('desk', 'dect', 'sidepanel', 'softphone')),
    line_keys integer NOT NULL DEFAULT 0,       -- programmable keys on the phone itself
    accounts integer NOT NULL DEFAULT 1,        -- SIP accounts the device holds
    softkey_functions text[] NOT NULL DEFAULT '{}',
    side_panel_model text,                      -- name of the sidepanel model it takes
    max_side_panels integer NOT NULL DEFAULT 0,
    side_panel_keys integer NOT NULL DEFAULT 0, -- keys per panel (sidepanel rows)
    dect_max_handsets integer NOT NULL DEFAULT 0,
    handset_address_required boolean NOT NULL DEFAULT false,
    config_files text[] NOT NULL DEFAULT '{}',  -- file name patterns it fetches ({mac}, {MAC})
    template text NOT NULL DEFAULT '',          -- built-in template file name
    serial_required boolean NOT NULL DEFAULT false,
    features jsonb NOT NULL DEFAULT '{}'        -- languages, tones, codecs, hd audio, video, …
);

CREATE TABLE sip_phones (
    id text PRIMARY KEY DEFAULT new_object_id(),
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    extension_id text REFERENCES extensions (id) ON DELETE SET NULL,
    model_id text NOT NULL REFERENCES sip_phone_models (id),
    dect_base_id text,                          -- set for handsets of a DECT base
    pbx_cluster smallint NOT NULL DEFAULT 1 CHECK (pbx_cluster IN (1, 2)),
    mac_address text CHECK (mac_address ~ '^[0-9A-F]{12}$'),
    serial text,
    product text,
    handset_index integer,
    handset_address text,
    call_waiting boolean,
    side_panel text,
    side_panel_count integer,
    softkey_configuration_on_device boolean,
    softkey_blf_blind_transfer boolean,
    headset_button text CHECK (headset_button IN ('speaker', 'headset', 'speaker-headset', 'headset-speaker')),
    dhsg boolean,
    display_brightness integer CHECK (display_brightness BETWEEN 0 AND 15),
    display_brightness_idle integer CHECK (display_brightness_idle BETWEEN 0 AND 15),
    display_background text,
    display_font_color text CHECK (display_font_color IN ('LIGHT', 'DARK')),
    custom_config text,
    notes text,
    instance_id text,
    -- Security settings: the IP policy gate reads these.
    ip_mode text NOT NULL DEFAULT 'OPEN' CHECK (ip_mode IN ('OPEN', 'LOCKED', 'ROAMING')),
    ip_countries text NOT NULL DEFAULT '',
    ip_address text,
    -- SIP credentials: the password is AES-GCM encrypted (configs need it in clear);
    -- the registrar checks the HA1 hashes (RFC 7616: MD5 and SHA-256 of user:realm:pass).
    username text NOT NULL UNIQUE CHECK (username ~ '^[a-zA-Z0-9]{32}$'),
    password_enc bytea NOT NULL,
    ha1_md5 text NOT NULL,
    ha1_sha256 text NOT NULL,
    -- Nested groups of the reference.
    ringer jsonb,                               -- {volume, tone}
    volume jsonb,                               -- {handset: {mic, speaker}, headset: …, handsfree: …}
    softkeys jsonb NOT NULL DEFAULT '[]',       -- [{index, function, value, label}]
    codec jsonb,                                -- {hdAudio, video}
    network jsonb,                              -- {dhcp, ipAddress, subnet, gateway, dns1, dns2, vlanId, vlanPriority}
    purchase_info jsonb,                        -- {orderId, date, paymentOption, sidePanels: […]}
    -- Device settings of 000 (camelCase keys: timezone, language, ringtones, dateFormat,
    -- timeFormat, powerLed, backlight, screensaver, rps, https, lldp, wanVlan…, pcVlan…,
    -- transferMethod, interface, preferredTransport, codecs, template, vendor, model).
    device jsonb NOT NULL DEFAULT '{}',
    device_secrets_enc bytea,                   -- encrypted {webPassword, doorPassword1, doorPassword2}
    config_saved timestamptz,
    config_loaded timestamptz,
    created timestamptz NOT NULL DEFAULT now(),
    version integer NOT NULL DEFAULT 1          -- bumped on every change (optimistic checks, caches)
);
CREATE INDEX sip_phones_customer ON sip_phones (customer_id);
CREATE INDEX sip_phones_extension ON sip_phones (extension_id);
CREATE INDEX sip_phones_mac ON sip_phones (mac_address);
-- One record per MAC, or per (MAC, handset) on a DECT base.
CREATE UNIQUE INDEX sip_phones_mac_slot ON sip_phones (mac_address, coalesce(handset_index, -1))
    WHERE mac_address IS NOT NULL;

-- DECT bases (001: /dect_phones): one MAC, handsets are sip_phones with dect_base_id.
CREATE TABLE dect_bases (
    id text PRIMARY KEY DEFAULT new_object_id(),
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    model_id text NOT NULL REFERENCES sip_phone_models (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    mac_address text NOT NULL UNIQUE CHECK (mac_address ~ '^[0-9A-F]{12}$'),
    settings jsonb NOT NULL DEFAULT '{}',       -- template, timezone, region, language, tone, …
    secrets_enc bytea,                          -- encrypted {password, user_password, engineer_password}
    created timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE sip_phones ADD CONSTRAINT sip_phones_dect_base
    FOREIGN KEY (dect_base_id) REFERENCES dect_bases (id) ON DELETE CASCADE;

-- The reference's status block, kept current by the registrar and the file server.
CREATE TABLE phone_status (
    phone_id text PRIMARY KEY REFERENCES sip_phones (id) ON DELETE CASCADE,
    online boolean NOT NULL DEFAULT false,
    expires_at timestamptz,
    local_ip text,
    public_ip text,
    user_agent text,
    transport text,
    unreachable boolean NOT NULL DEFAULT false,
    updated timestamptz NOT NULL DEFAULT now()
);

-- Registrar bindings (RFC 3261 §10.3): one row per (phone, contact).
CREATE TABLE bindings (
    phone_id text NOT NULL REFERENCES sip_phones (id) ON DELETE CASCADE,
    contact text NOT NULL,                      -- the Contact URI as registered
    call_id text NOT NULL,
    cseq integer NOT NULL,
    expires_at timestamptz NOT NULL,
    q real,
    transport text NOT NULL,                    -- udp, tcp, tls, ws, wss
    source_ip text NOT NULL,
    source_port integer NOT NULL,
    local_ip text,
    user_agent text,
    instance_id text,                           -- +sip.instance (RFC 5626)
    reg_id integer,
    path text,
    node text,                                  -- which sipfleet node holds its connection
    unreachable boolean NOT NULL DEFAULT false,
    updated timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (phone_id, contact)
);
CREATE INDEX bindings_expires ON bindings (expires_at);

-- Custom provisioning templates; they override a built-in of the same file name.
CREATE TABLE phone_templates (
    filename text PRIMARY KEY CHECK (filename ~ '^[A-Za-z0-9._-]{1,128}$'),
    content text NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);

-- Every MAC seen by the provisioning file server (001: /phones).
CREATE TABLE seen_phones (
    mac_address text PRIMARY KEY CHECK (mac_address ~ '^[0-9A-F]{12}$'),
    vendor text,
    model text,
    address text,
    user_agent text,
    last_file text,
    fetch_count integer NOT NULL DEFAULT 0,
    rejected boolean NOT NULL DEFAULT false,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);

-- API tokens: only the SHA-256 of the token is stored.
CREATE TABLE api_tokens (
    id text PRIMARY KEY DEFAULT new_object_id(),
    token_hash text NOT NULL UNIQUE,
    level text NOT NULL CHECK (level IN ('VIEWER', 'MANAGER', 'OWNER', 'RESELLER', 'ADMIN')),
    customer_id text REFERENCES customers (id) ON DELETE CASCADE,
    reseller_id text REFERENCES resellers (id) ON DELETE CASCADE,
    name text NOT NULL DEFAULT '',
    created timestamptz NOT NULL DEFAULT now(),
    last_used timestamptz,
    CHECK (
        (level IN ('VIEWER', 'MANAGER', 'OWNER') AND customer_id IS NOT NULL)
        OR (level = 'RESELLER' AND reseller_id IS NOT NULL)
        OR level = 'ADMIN'
    )
);

-- The event log behind /api/events (ids are the SSE ids, resumable).
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    time timestamptz NOT NULL DEFAULT now(),
    type text NOT NULL,
    phone_id text,
    customer_id text,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_customer ON events (customer_id, id);
