-- Room snapshots from the live checks (live page, api-live, room/info): status (2 live, 3 paused,
-- 4 ended, 0 unknown), title and audience figures, one row per lookup.
CREATE TABLE IF NOT EXISTS rooms
(
    event_time      DateTime64(3, 'UTC'),
    host            String,
    room_id         UInt64,
    source          LowCardinality(String),
    status          Int32,
    title           String,
    viewers         UInt64,
    likes           UInt64,
    total_viewers   UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, source)
SETTINGS non_replicated_deduplication_window = 10000;
