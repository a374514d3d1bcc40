-- Custom ringtones (/api/ringtones): WAV files uploaded per customer, fetched by phones
-- through the provisioning server. A phone refers to one by id in 002 `ringer.tone`
-- (`sip_phones.ringer->>'tone'`). The file server's cached phone records join the
-- ringtone (its id and format), so deleting one drops them (migration 0008's function).
CREATE TABLE ringtones (
    id text PRIMARY KEY DEFAULT new_object_id(),
    customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    format text NOT NULL,          -- provisioning/ringtones/wav.py FORMATS
    duration_ms integer NOT NULL,
    size integer NOT NULL,
    sha256 text NOT NULL,
    content bytea NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ringtones_customer ON ringtones (customer_id, id);
CREATE INDEX sip_phones_custom_ringtone ON sip_phones ((ringer->>'tone'))
    WHERE ringer->>'tone' ~ '^[0-9a-f]{24}$';

CREATE TRIGGER ringtones_prov_notify
    AFTER DELETE OR TRUNCATE ON ringtones
    FOR EACH STATEMENT EXECUTE FUNCTION sipfleet_notify_prov_all();

-- The formats each model plays from a custom ringtone URL (features.customRingtones); a
-- model without the list takes none, and `ringer.tone` naming a custom ringtone is then
-- refused with 422. Sources (provisioning/ringtones/wav.py, provisioning/vendors/*.py):
--   Yealink desk: ringtone.url + phone_setting.ring_type; mono 8 kHz, 16-bit or µ-law.
--   snom desk: user_ringer Custom + user_custom (the URL); "PCM 8 kHz 16 bit mono WAV".
--   Polycom: saf.x (a URL) played as a ringer; G.711 µ-law / A-law 8 kHz or L16/16000.
--   Grandstream (P104 custom ring tones are files pushed in the vendor's own format),
--   Cisco SPA, Mitel, Fanvil and Gigaset: no confirmed custom ringtone URL.
UPDATE sip_phone_models SET features = features || '{"customRingtones": ["pcm16-8000", "ulaw-8000"]}'::jsonb
    WHERE vendor = 'yealink' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"customRingtones": ["pcm16-8000"]}'::jsonb
    WHERE vendor = 'snom' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"customRingtones": ["pcm16-16000", "ulaw-8000", "alaw-8000"]}'::jsonb
    WHERE vendor = 'polycom' AND kind = 'desk';
