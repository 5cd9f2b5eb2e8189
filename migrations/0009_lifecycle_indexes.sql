-- 0009_lifecycle_indexes: a narrower time index on events (issue 16, ADR 3).
--
-- 0005 indexed events (occurred_at, event_id) for GET /events/export's order and for finding
-- a prune batch's oldest events. Every entry is a distinct 24-byte key inserted at a random
-- place, and it was the larger of the two lifecycle indexes' costs to ingestion (1M events
-- loaded: 50 MB of index, +100 MB of WAL against +68 MB for the user_id btree, which B-tree
-- deduplication keeps at 10 MB). An index on (occurred_at) alone is half the size (25 MB) and
-- the load wrote 27 MB less WAL. It serves the same three reads:
--   export   ORDER BY occurred_at, event_id reads the index in time order and sorts only the
--            events that share an instant (an Incremental Sort): rows still leave as the index
--            is read, the first ones before the range is, and memory is one instant's events;
--   prune    the same, for ORDER BY occurred_at, event_id LIMIT n of the oldest;
--   ranges   WHERE occurred_at >= a AND occurred_at < b, as before.
-- events (user_id) stays a btree: a hash index was measured larger (35 MB: one entry per row,
-- no deduplication) and wrote more WAL, a btree on hashtext(user_id) the same as the text one.
--
-- The new index is built while the migration runs (a while on a large store; writers wait
-- meanwhile, as they did for 0005's); the old one goes in the same transaction.
CREATE INDEX events_occurred_at_1 ON events (occurred_at);
DROP INDEX IF EXISTS events_occurred_at;
ALTER INDEX events_occurred_at_1 RENAME TO events_occurred_at;
