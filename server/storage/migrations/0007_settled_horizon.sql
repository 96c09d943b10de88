-- The settled horizon (docs/architecture.md, "Merge v2"): each device's highest HLC
-- merged (zero until it has pushed),
-- and, on a feed entry merged at the horizon instead of its own stamp, the device's HLC.
ALTER TABLE devices ADD COLUMN mark TEXT NOT NULL DEFAULT '0000000000000-0000';
UPDATE devices SET mark = COALESCE(
    (SELECT max(f.hlc) FROM feed f
     WHERE f.user_id = devices.user_id AND f.device_id = devices.id AND f.origin = 'device'),
    '0000000000000-0000'
);
ALTER TABLE feed ADD COLUMN sent_hlc TEXT;
