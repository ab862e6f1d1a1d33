-- Likes as TikTok reports them: aggregated per user (count) with the room's running total.
CREATE TABLE IF NOT EXISTS likes
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
    count           UInt32,
    total           UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
