-- Provisioning (issue 6). The file server writes `sip_phones.config_loaded` on every
-- successful fetch (batched, status.configLoaded). Migration 0003's trigger announces every
-- change of a phone on 'sipfleet_phones' so that each node's SIP directory re-reads it; a
-- change of config_loaded alone changes nothing the directory (or anyone listening) holds,
-- and at thousands of fetches a second it would cost one directory re-read per fetch. Same
-- function as 0003, except that an UPDATE touching nothing but config_loaded is not
-- announced.
CREATE OR REPLACE FUNCTION sipfleet_notify_phone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('sipfleet_phones', OLD.id);
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE'
       AND to_jsonb(OLD) - 'config_loaded' = to_jsonb(NEW) - 'config_loaded' THEN
        RETURN NEW;
    END IF;
    PERFORM pg_notify('sipfleet_phones', NEW.id);
    RETURN NEW;
END
$$;

-- /api/phones lists seen phones by MAC (the primary key); the file server's one query per
-- fetch finds phones by MAC (sip_phones_mac, 0001). Nothing else is needed.
