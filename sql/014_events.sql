-- Every other decoded message (PROTOCOL.md §5.1 methods without a table of their own): its
-- method, the user it is about (if any), its display template key, and its decoded fields as a
-- compact JSON object in `data` (zero and empty values left out), e.g.
--   SELECT JSONExtractUInt(data, 'battle_id') FROM events WHERE method = 'WebcastLinkMicBattlePunishFinish'
CREATE TABLE IF NOT EXISTS events
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    method          LowCardinality(String),
    user_id         UInt64,
    unique_id       String,
    nickname        String,
    is_moderator    Bool,
    is_subscriber   Bool,
    is_follower     Bool,
    is_friend       Bool,
    gifter_level    UInt16,
    fan_club_level  UInt16,
    is_top_gifter   Bool,
    display_key     LowCardinality(String),
    data            String CODEC(ZSTD(3)),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
