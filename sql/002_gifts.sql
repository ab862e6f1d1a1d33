-- Gifts. Streakable gifts (gift_type 1) send one row per streak step; only the row with
-- is_final = true counts, and its diamonds = diamond_count × repeat_count. Sum diamonds, not rows.
CREATE TABLE IF NOT EXISTS gifts
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
    gift_id         UInt64,
    gift_name       LowCardinality(String),
    gift_type       Int32,
    diamond_count   UInt32,
    repeat_count    UInt32,
    repeat_end      Bool,
    combo_count     UInt32,
    group_id        UInt64,
    to_user_id      UInt64,
    is_final        Bool,
    diamonds        UInt64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
