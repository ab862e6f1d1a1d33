-- Per-stream (room) gifters, from final gifts only (a streak counts once, PROTOCOL.md §5.5),
-- exact under duplicates like room_minute: gifts = uniqExact(msg_id), diamonds keyed by msg_id.
-- Read it through the view stream_gifters_stats (merged), as in docs/queries.sql.
CREATE TABLE IF NOT EXISTS stream_gifters
(
    room_id         UInt64,
    user_id         UInt64,
    unique_id       AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    nickname        AggregateFunction(argMax, String, DateTime64(3, 'UTC')),
    gifts           AggregateFunction(uniqExact, UInt64),
    diamonds        AggregateFunction(maxMap, Array(UInt64), Array(UInt64)),
    first_gift      AggregateFunction(min, DateTime64(3, 'UTC')),
    last_gift       AggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (room_id, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS stream_gifters_mv TO stream_gifters AS
SELECT room_id, user_id,
       argMaxState(unique_id, event_time) AS unique_id,
       argMaxState(nickname, event_time) AS nickname,
       uniqExactState(msg_id) AS gifts,
       maxMapState([msg_id], [diamonds]) AS diamonds,
       minState(event_time) AS first_gift,
       maxState(event_time) AS last_gift
FROM gifts WHERE is_final GROUP BY room_id, user_id;

-- Backfill from gifts stored before this migration (idempotent, as above).
INSERT INTO stream_gifters
SELECT room_id, user_id,
       argMaxState(unique_id, event_time) AS unique_id,
       argMaxState(nickname, event_time) AS nickname,
       uniqExactState(msg_id) AS gifts,
       maxMapState([msg_id], [diamonds]) AS diamonds,
       minState(event_time) AS first_gift,
       maxState(event_time) AS last_gift
FROM gifts WHERE is_final GROUP BY room_id, user_id;

CREATE VIEW IF NOT EXISTS stream_gifters_stats AS
SELECT room_id, user_id,
       argMaxMerge(unique_id) AS unique_id,
       argMaxMerge(nickname) AS nickname,
       uniqExactMerge(gifts) AS gifts,
       arraySum(maxMapMerge(diamonds).2) AS diamonds,
       minMerge(first_gift) AS first_gift,
       maxMerge(last_gift) AS last_gift
FROM stream_gifters
GROUP BY room_id, user_id;
