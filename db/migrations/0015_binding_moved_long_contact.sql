-- A binding moving to another node is notified with its contact and Call-ID (0010); both
-- come from the phone, and a NOTIFY payload of 8,000 bytes or more is refused — which
-- failed the whole group commit that moved such a binding (every REGISTER in it, of any
-- phone). When the payload would be that long, the contact and Call-ID travel as their
-- MD5 hashes instead, which the old node compares with the bindings it holds.
CREATE OR REPLACE FUNCTION sipfleet_notify_binding_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    payload := json_build_object(
        'old', OLD.node, 'new', NEW.node, 'phone', NEW.phone_id, 'contact', NEW.contact,
        'callId', NEW.call_id, 'cseq', NEW.cseq)::text;
    IF octet_length(payload) > 7900 THEN
        payload := json_build_object(
            'old', OLD.node, 'new', NEW.node, 'phone', NEW.phone_id,
            'contactMd5', md5(NEW.contact), 'callIdMd5', md5(NEW.call_id),
            'cseq', NEW.cseq)::text;
    END IF;
    PERFORM pg_notify('sipfleet_binding_moved', payload);
    RETURN NEW;
END
$$;
