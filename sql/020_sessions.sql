-- Websocket connections to a room, one per connection: a row with ended_at NULL and end_reason
-- 'open' when the socket opens, replaced (higher updated_at) by the final row when it ends.
CREATE TABLE IF NOT EXISTS sessions
(
    host            String,
    room_id         UInt64,
    connected_at    DateTime64(3, 'UTC'),
    ended_at        Nullable(DateTime64(3, 'UTC')),
    end_reason      LowCardinality(String),
    frames          UInt64,
    messages        UInt64,
    bytes           UInt64,
    updated_at      DateTime64(3, 'UTC'),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(connected_at)
ORDER BY (host, room_id, connected_at)
SETTINGS non_replicated_deduplication_window = 10000;
