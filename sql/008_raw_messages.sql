-- Messages without a typed table, and messages that failed to decode (decode_error non-empty),
-- kept whole so they can be decoded again later. payload_b64 is the message body in base64.
CREATE TABLE IF NOT EXISTS raw_messages
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    method          LowCardinality(String),
    payload_b64     String CODEC(ZSTD(3)),
    decode_error    String,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
