-- Chat mentions and emotes: every mentioned user, and the emotes placed in the text with their
-- positions (emote_ids[i] sits at emote_positions[i]).
ALTER TABLE chat ADD COLUMN IF NOT EXISTS mention_user_ids Array(UInt64) AFTER mention_user_id;
ALTER TABLE chat ADD COLUMN IF NOT EXISTS emote_ids Array(String) AFTER mention_user_ids;
ALTER TABLE chat ADD COLUMN IF NOT EXISTS emote_positions Array(Int32) AFTER emote_ids;

-- Stickers and emotes sent on their own (WebcastEmoteChatMessage, subscribers).
CREATE TABLE IF NOT EXISTS emote_chat
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
    emote_ids       Array(String),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
