-- Time the server can trust (docs/protocol.md, "Time"): a feed row's recorded_at is when the
-- server received the event; an event whose `at` lay beyond the allowed clock skew after it
-- is kept with `at` = its receipt, and sent_at holds the time the device's clock gave it
-- (NULL otherwise), as sent_hlc (0007) holds the device's own HLC. The same on both engines.
ALTER TABLE feed ADD COLUMN sent_at BIGINT;
