-- The users dimension: the latest state seen of every user any message showed (nickname,
-- handle, avatar, follower counts, flags towards the host of room_id). ReplacingMergeTree keeps
-- the row with the greatest seen_at per user_id; query with FINAL (or argMax) for one row each.
CREATE TABLE IF NOT EXISTS users
(
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
    sec_uid         String,
    avatar_url      String CODEC(ZSTD(3)),
    follower_count  UInt64,
    following_count UInt64,
    verified        Bool,
    room_id         UInt64,
    msg_id          UInt64,
    seen_at         DateTime64(3, 'UTC'),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(seen_at)
ORDER BY user_id
SETTINGS non_replicated_deduplication_window = 10000;
