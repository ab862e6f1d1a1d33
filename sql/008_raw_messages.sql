-- Messages kept whole, so they can be decoded again later (`chakal-ingest redecode`): per
-- RAW_MESSAGES, every message or only those without a typed table and those that failed to
-- decode (decode_error non-empty). `payload` is the message body's bytes; rows arrive with it
-- in base64 (`payload_b64`, EPHEMERAL: decoded on insert, never stored), which needs an insert
-- that names its columns (the writer does, see clickhouse::row::explicit_columns).
CREATE TABLE IF NOT EXISTS raw_messages
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    method          LowCardinality(String),
    payload_b64     String EPHEMERAL,
    payload         String DEFAULT base64Decode(payload_b64) CODEC(ZSTD(3)),
    decode_error    String,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
