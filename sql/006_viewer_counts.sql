-- Audience snapshots (WebcastRoomUserSeqMessage): current viewers, cumulative viewers, top viewers.
CREATE TABLE IF NOT EXISTS viewer_counts
(
    event_time      DateTime64(3, 'UTC'),
    room_id         UInt64,
    msg_id          UInt64,
    viewers           UInt64,
    total_user        UInt64,
    popularity        UInt64,
    top_viewer_ids    Array(UInt64),
    top_viewer_scores Array(Int64),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (room_id, event_time, msg_id)
SETTINGS non_replicated_deduplication_window = 10000;
