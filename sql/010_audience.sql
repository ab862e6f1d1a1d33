-- Subscriptions (WebcastSubNotifyMessage): new, renewed or gifted; sub_month is the streak.
CREATE TABLE IF NOT EXISTS subscriptions
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
    sub_month       UInt32,
    subscribe_type  Int32,
    old_subscribe_status Int32,
    subscribing_status Int32,
    message_type    Int32,
    is_send         Bool,
    is_custom       Bool,
    gift_source     Int32,
    package_id      String,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Viewer questions to the host (WebcastQuestionNewMessage, Q&A).
CREATE TABLE IF NOT EXISTS questions
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
    question_id     UInt64,
    content         String,
    answer_status   Int32,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Treasure boxes (WebcastEnvelopeMessage). is_super_fan_box: business_type 19 or a superfanbox
-- display key. unpack_at is when it can be opened (1970 when unknown).
CREATE TABLE IF NOT EXISTS envelopes
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    envelope_id     String,
    business_type   Int32,
    sender_id       UInt64,
    sender_name     String,
    diamond_count   UInt32,
    people_count    UInt32,
    unpack_at       DateTime64(3, 'UTC'),
    display         Int32,
    is_super_fan_box Bool,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
