-- What the server knows of work a device holds and has not sent (server/reports/freshness.py,
-- docs/reports.md "Freshness"): at each hello the device says the highest seq it has
-- recorded (protocol.md, hello.accounts[].recorded); the events above its acked_seq are
-- recorded there and not yet merged. NULL: the device's client did not say (older clients),
-- so its pending work is unknown, not zero. `reported_at` is when it last said.
-- devices is a learner table (keyed by user_id, server/storage/sharding.py).
ALTER TABLE devices ADD COLUMN reported_seq BIGINT;
ALTER TABLE devices ADD COLUMN reported_at BIGINT;
