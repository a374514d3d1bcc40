-- Zero-touch provisioning: registrations of MACs with the vendors' redirect services
-- (Yealink RPS, Snom SRAPS, …), kept here so that the work survives restarts.
--
-- One row per piece of work. `register`: the entry a phone record or DECT base (the
-- subject) wants at its vendor, at most one per subject; it stays after success with
-- state 'registered' and is what the API shows as the record's `redirect`. `unregister`:
-- an entry to remove (the record was deleted, its MAC changed, or `rps` went off); the row
-- is deleted once the vendor confirms. Rows are claimed by the runner of any node with
-- SELECT … FOR UPDATE SKIP LOCKED and held for the call by `leased_until`; `generation`
-- changes whenever the row is rewritten, so an answer to an outdated call is ignored.
-- No foreign key to the subject: removal outlives the record.
CREATE TABLE redirect_jobs (
    id bigserial PRIMARY KEY,
    subject_kind text NOT NULL CHECK (subject_kind IN ('phone', 'dect')),
    subject_id text NOT NULL,
    customer_id text,
    action text NOT NULL CHECK (action IN ('register', 'unregister')),
    vendor text NOT NULL,
    mac_address text NOT NULL CHECK (mac_address ~ '^[0-9A-F]{12}$'),
    url text NOT NULL DEFAULT '',
    serial text,
    state text NOT NULL CHECK (state IN
        ('pending', 'registered', 'failed', 'not_configured', 'manual', 'unsupported')),
    reason text NOT NULL DEFAULT '',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    generation integer NOT NULL DEFAULT 1,
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX redirect_jobs_subject ON redirect_jobs (subject_kind, subject_id)
    WHERE action = 'register';
CREATE INDEX redirect_jobs_due ON redirect_jobs (next_attempt) WHERE state = 'pending';
CREATE INDEX redirect_jobs_mac ON redirect_jobs (vendor, mac_address);

-- The subject's entry is no longer wanted: remove it at the vendor when it may be there
-- (registered, or a call was made), else forget it. A call in flight finishes first.
CREATE FUNCTION sipfleet_redirect_release(kind text, subject text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM redirect_jobs
    WHERE subject_kind = kind AND subject_id = subject AND action = 'register'
      AND NOT (state = 'registered' OR (state IN ('pending', 'failed') AND attempts > 0));
    UPDATE redirect_jobs
    SET action = 'unregister', state = 'pending', reason = '', attempts = 0,
        next_attempt = greatest(now(), coalesce(leased_until, now())),
        generation = generation + 1, updated = now()
    WHERE subject_kind = kind AND subject_id = subject AND action = 'register';
END
$$;

-- Every way a record goes (its own DELETE, a customer's or a base's cascade) releases it.
CREATE FUNCTION sipfleet_redirect_subject_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM sipfleet_redirect_release(TG_ARGV[0], OLD.id);
    RETURN OLD;
END
$$;

CREATE TRIGGER sip_phones_redirect_release
    AFTER DELETE ON sip_phones
    FOR EACH ROW EXECUTE FUNCTION sipfleet_redirect_subject_deleted('phone');
CREATE TRIGGER dect_bases_redirect_release
    AFTER DELETE ON dect_bases
    FOR EACH ROW EXECUTE FUNCTION sipfleet_redirect_subject_deleted('dect');
