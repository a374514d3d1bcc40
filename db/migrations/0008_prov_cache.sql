-- Provisioning record cache (issue 6). The file server keeps every phone record it served
-- (`db.provisioning.phones_for_mac`: phone, model, side panel, extension, customer, resolved
-- key targets, rejection flag) in memory, so a repeat fetch reads nothing from the database.
-- A change of the phone row itself arrives on 'sipfleet_phones' (0003/0006, by phone id).
-- Everything else the record is built from notifies 'sipfleet_prov' here, after commit:
--   '*'  — drop every cached record (coarse: catalogue, customers, extensions, groups,
--          queues, and phone inserts/deletes/moves that can change OTHER phones' records,
--          e.g. a new DECT handset on a cached MAC or a DNDOTHER key's target);
--   MAC  — drop that MAC's record (its rejection flag changed).
-- Statement-level triggers: one notification per statement, whatever the rows. Nothing here
-- fires on the writes of the fetch path (config_loaded, sightings, phone_status, events):
-- the sip_phones trigger names columns the batched config_loaded UPDATE never sets, and the
-- seen_phones triggers fire only when `rejected` changes.
CREATE FUNCTION sipfleet_notify_prov_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sipfleet_prov', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER sip_phones_prov_notify
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF mac_address, extension_id, customer_id
    ON sip_phones FOR EACH STATEMENT EXECUTE FUNCTION sipfleet_notify_prov_all();

CREATE TRIGGER sip_phone_models_prov_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sip_phone_models
    FOR EACH STATEMENT EXECUTE FUNCTION sipfleet_notify_prov_all();

CREATE TRIGGER customers_prov_notify
    AFTER UPDATE OR DELETE OR TRUNCATE ON customers
    FOR EACH STATEMENT EXECUTE FUNCTION sipfleet_notify_prov_all();

-- an extension cannot be a target before it exists: inserts change no record
CREATE TRIGGER extensions_prov_notify
    AFTER UPDATE OR DELETE OR TRUNCATE ON extensions
    FOR EACH STATEMENT EXECUTE FUNCTION sipfleet_notify_prov_all();

CREATE TRIGGER pickup_groups_prov_notify
    AFTER UPDATE OR DELETE OR TRUNCATE ON pickup_groups
    FOR EACH STATEMENT EXECUTE FUNCTION sipfleet_notify_prov_all();

CREATE TRIGGER queues_prov_notify
    AFTER UPDATE OR DELETE OR TRUNCATE ON queues
    FOR EACH STATEMENT EXECUTE FUNCTION sipfleet_notify_prov_all();

-- The rejection flag, per MAC; a sighting (every fetch) leaves `rejected` alone, so the
-- WHEN clauses keep these row triggers from running at all on the fetch path.
CREATE FUNCTION sipfleet_notify_prov_mac() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('sipfleet_prov', OLD.mac_address);
    ELSE
        PERFORM pg_notify('sipfleet_prov', NEW.mac_address);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER seen_phones_prov_insert
    AFTER INSERT ON seen_phones FOR EACH ROW WHEN (NEW.rejected)
    EXECUTE FUNCTION sipfleet_notify_prov_mac();

CREATE TRIGGER seen_phones_prov_update
    AFTER UPDATE OF rejected ON seen_phones
    FOR EACH ROW WHEN (OLD.rejected IS DISTINCT FROM NEW.rejected)
    EXECUTE FUNCTION sipfleet_notify_prov_mac();

CREATE TRIGGER seen_phones_prov_delete
    AFTER DELETE ON seen_phones FOR EACH ROW WHEN (OLD.rejected)
    EXECUTE FUNCTION sipfleet_notify_prov_mac();

CREATE TRIGGER seen_phones_prov_truncate
    AFTER TRUNCATE ON seen_phones
    FOR EACH STATEMENT EXECUTE FUNCTION sipfleet_notify_prov_all();
