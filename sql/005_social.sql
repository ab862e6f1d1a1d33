-- Follows and shares; kind is decided from the display key (PROTOCOL.md §5.8).
CREATE TABLE IF NOT EXISTS social
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
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
    kind            LowCardinality(String),
    action          Int64,
    share_type      Int64,
    share_target    String,
    share_count     UInt32,
    follow_count    UInt64,
    display_key     LowCardinality(String),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
