-- The registrar's phone directory is held in memory on every node and refreshed per phone
-- when it changes: any insert, update or delete of a SIP phone (REST API, resetcredentials,
-- another node) notifies 'sipfleet_phones' with the phone id, after commit.
CREATE FUNCTION sipfleet_notify_phone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('sipfleet_phones', OLD.id);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('sipfleet_phones', NEW.id);
    RETURN NEW;
END
$$;

CREATE TRIGGER sip_phones_notify
    AFTER INSERT OR UPDATE OR DELETE ON sip_phones
    FOR EACH ROW EXECUTE FUNCTION sipfleet_notify_phone();

-- A model's vendor/model feeds the gate's identity check: refresh its phones too.
CREATE FUNCTION sipfleet_notify_model_phones() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sipfleet_phones', p.id) FROM sip_phones p WHERE p.model_id = NEW.id;
    RETURN NEW;
END
$$;

CREATE TRIGGER sip_phone_models_notify
    AFTER UPDATE OF vendor, model ON sip_phone_models
    FOR EACH ROW EXECUTE FUNCTION sipfleet_notify_model_phones();
