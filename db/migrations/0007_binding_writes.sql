-- Registrar write cost (issue 3). In the steady state nearly every REGISTER is a refresh:
-- the same row of `bindings` and of `phone_status` is rewritten with a new expiry. An
-- index on a column that changes forbids a HOT update (heap-only tuple: the new version
-- goes on the same page and no index entry is written), so every refresh paid for a new
-- entry in both indexes of `bindings`, and for their cleanup later. `bindings_expires`
-- served only the orphan sweep (DELETE … WHERE expires_at <= $1, every 30 s per node); a
-- sequential scan of the table costs it a few milliseconds per 100,000 bindings, against
-- thousands of index insertions a second. The fill factor leaves room on every page for
-- the next version of its rows, which a HOT update needs.
DROP INDEX IF EXISTS bindings_expires;
ALTER TABLE bindings SET (fillfactor = 70);
ALTER TABLE phone_status SET (fillfactor = 70);

-- A refresh rewrites only what a refresh moves (call_id, cseq, expires_at) when the row is
-- still what this writer last wrote: `shape` is the writer's hash of every other column
-- (db/bindings.py shape_of). Any write that sets those columns another way leaves it NULL,
-- which no refresh matches, so the next write of that binding is a whole-row upsert.
ALTER TABLE bindings ADD COLUMN shape bigint;
-- The same for a phone's status row (db/phone_status.py status_shape): a refresh moves its
-- expiry alone while the row is as the writer left it, online and reachable.
ALTER TABLE phone_status ADD COLUMN shape bigint;
