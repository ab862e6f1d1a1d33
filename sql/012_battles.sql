-- Battles (WebcastLinkMicBattle): one row per state change; host_*[i] describe one host (team,
-- result -1 unknown / 0 win / 1 lose / 2 draw, score).
CREATE TABLE IF NOT EXISTS battles
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    battle_id       UInt64,
    action          Int32,
    status          Int32,
    battle_type     Int32,
    channel_id      UInt64,
    start_time      DateTime64(3, 'UTC'),
    duration_s      Int32,
    host_ids        Array(UInt64),
    host_unique_ids Array(String),
    host_nicknames  Array(String),
    host_team_ids   Array(UInt64),
    host_results    Array(Int32),
    host_scores     Array(Int64),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Battle scores (WebcastLinkMicArmies): each host's score, and the gifters behind it
-- (member_*[i]: gifter member_user_ids[i] gave member_scores[i] points to host member_host_ids[i]).
CREATE TABLE IF NOT EXISTS battle_armies
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    battle_id       UInt64,
    trigger_reason  Int32,
    from_user_id    UInt64,
    gift_id         UInt64,
    gift_count      Int32,
    repeat_count    Int32,
    total_diamond_count Int32,
    host_ids        Array(UInt64),
    host_scores     Array(Int64),
    member_host_ids Array(UInt64),
    member_user_ids Array(UInt64),
    member_nicknames Array(String),
    member_scores   Array(Int64),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
