-- Polls (WebcastPollMessage): one row per start / votes update / end; option_texts[i] has
-- option_votes[i] votes.
CREATE TABLE IF NOT EXISTS polls
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    poll_id         UInt64,
    message_type    Int64,
    kind            Int32,
    title           String,
    operator_id     UInt64,
    end_type        Int32,
    option_indexes  Array(Int32),
    option_texts    Array(String),
    option_votes    Array(Int64),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- Stream goal progress (WebcastGoalUpdateMessage): the contribution that moved it, and every
-- sub-goal's progress towards its target.
CREATE TABLE IF NOT EXISTS goals
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    goal_id         UInt64,
    description     String,
    status          Int32,
    contributor_id  UInt64,
    contributor_unique_id String,
    contribute_count Int64,
    contribute_score Int64,
    sub_goal_ids    Array(UInt64),
    sub_goal_types  Array(Int32),
    sub_goal_progress Array(Int64),
    sub_goal_targets Array(Int64),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;

-- The room's place in TikTok's rankings (WebcastRankUpdateMessage): one array entry per ranking.
CREATE TABLE IF NOT EXISTS rank_updates
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    group_type      Int32,
    op_type         Int32,
    priority        Int64,
    rank_types      Array(Int32),
    own_ranks       Array(Int64),
    scores          Array(Int64),
    texts           Array(String),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
