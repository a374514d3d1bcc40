-- A phone's binding moving to another node (NAT rebinding, or a REGISTER that the kernel
-- handed to another worker process): the registering node upserts the row with its own
-- node id; the node that held it before must forget it at once, or it keeps probing the
-- flow and believes it holds the phone. The trigger fires only on a move (cheap: a
-- refresh keeps the node), after commit, with what the old node needs to match the
-- binding it holds.
CREATE FUNCTION sipfleet_notify_binding_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sipfleet_binding_moved', json_build_object(
        'old', OLD.node, 'new', NEW.node, 'phone', NEW.phone_id, 'contact', NEW.contact,
        'callId', NEW.call_id, 'cseq', NEW.cseq)::text);
    RETURN NEW;
END
$$;

CREATE TRIGGER bindings_moved_notify
    AFTER UPDATE ON bindings
    FOR EACH ROW WHEN (OLD.node IS DISTINCT FROM NEW.node)
    EXECUTE FUNCTION sipfleet_notify_binding_moved();
