-- Pinned messages (WebcastRoomPinMessage): the user columns are the pinned message's author,
-- operator_id who pinned it; action 1 pin, 2 unpin.
CREATE TABLE IF NOT EXISTS room_pins
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
    operator_id     UInt64,
    action          Int32,
    pinned_msg_id   UInt64,
    pinned_method   LowCardinality(String),
    pinned_content  String,
    pin_time        DateTime64(3, 'UTC'),
    display_duration_s Int64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Chat messages and users removed by moderators (WebcastImDeleteMessage).
CREATE TABLE IF NOT EXISTS deleted_messages
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    deleted_msg_ids Array(UInt64),
    deleted_user_ids Array(UInt64),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- The host's intro text (WebcastLiveIntroMessage); the user columns are the host.
CREATE TABLE IF NOT EXISTS live_intros
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
    intro_id        UInt64,
    content         String,
    language        LowCardinality(String),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Room-level texts: kind = room (WebcastRoomMessage, SystemMessage), system, caption (one line per
-- language, languages in `language`), notice, bottom, notify; code is the message's own type.
CREATE TABLE IF NOT EXISTS room_messages
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
    content         String,
    language        LowCardinality(String),
    code            Int64,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
