-- Viewer joins (action 1 joined, 3 subscribed) with the viewer count at that moment.
CREATE TABLE IF NOT EXISTS members
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
    action          Int32,
    member_count    UInt32,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
