-- Per-minute activity per room, kept up to date by materialized views on the event tables.
-- Exact under duplicates: a message stored twice (history replayed after a restart, overlapping
-- batches) counts once, because every state is keyed by msg_id or idempotent: `messages` is
-- uniqExact(msg_id), `amounts` maxMap(msg_id → amount) (one amount per message), `peak` max.
-- kind: chat, emote_chat, gift (final gifts only; amount = diamonds), like (amount = likes),
-- join (member action 1), follow, share, viewers (peak = viewers), subscription, question,
-- envelope (amount = diamonds), or the method of an `events` row.
-- Read it through the view room_minute_stats (merged), as in docs/queries.sql.
CREATE TABLE IF NOT EXISTS room_minute
(
    room_id         UInt64,
    minute          DateTime('UTC'),
    kind            LowCardinality(String),
    messages        AggregateFunction(uniqExact, UInt64),
    amounts         AggregateFunction(maxMap, Array(UInt64), Array(UInt64)),
    peak            AggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (room_id, minute, kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_chat TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'chat' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM chat GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_emote_chat TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'emote_chat' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM emote_chat GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_gifts TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'gift' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState([msg_id], [diamonds]) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM gifts WHERE is_final GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_likes TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'like' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState([msg_id], [toUInt64(count)]) AS amounts,
       maxState(total) AS peak
FROM likes GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_joins TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'join' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(member_count)) AS peak
FROM members WHERE action = 1 GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_social TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, kind,
       uniqExactState(msg_id) AS messages,
       maxMapState([msg_id], [toUInt64(share_count)]) AS amounts,
       maxState(follow_count) AS peak
FROM social WHERE kind IN ('follow', 'share') GROUP BY room_id, minute, kind;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_viewers TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'viewers' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(viewers) AS peak
FROM viewer_counts GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_subscriptions TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'subscription' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM subscriptions GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_questions TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'question' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM questions GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_envelopes TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, 'envelope' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState([msg_id], [toUInt64(diamond_count)]) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM envelopes GROUP BY room_id, minute;

CREATE MATERIALIZED VIEW IF NOT EXISTS room_minute_events TO room_minute AS
SELECT room_id, toStartOfMinute(event_time) AS minute, method AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM events GROUP BY room_id, minute, kind;

-- Backfill from rows stored before this migration (the views see only new inserts). Running it
-- again, or alongside the views, changes nothing: the states above are duplicate-proof.
INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'chat' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM chat GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'emote_chat' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM emote_chat GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'gift' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState([msg_id], [diamonds]) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM gifts WHERE is_final GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'like' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState([msg_id], [toUInt64(count)]) AS amounts,
       maxState(total) AS peak
FROM likes GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'join' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(member_count)) AS peak
FROM members WHERE action = 1 GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, kind,
       uniqExactState(msg_id) AS messages,
       maxMapState([msg_id], [toUInt64(share_count)]) AS amounts,
       maxState(follow_count) AS peak
FROM social WHERE kind IN ('follow', 'share') GROUP BY room_id, minute, kind;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'viewers' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(viewers) AS peak
FROM viewer_counts GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'subscription' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM subscriptions GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'question' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM questions GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, 'envelope' AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState([msg_id], [toUInt64(diamond_count)]) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM envelopes GROUP BY room_id, minute;

INSERT INTO room_minute
SELECT room_id, toStartOfMinute(event_time) AS minute, method AS kind,
       uniqExactState(msg_id) AS messages,
       maxMapState(CAST([], 'Array(UInt64)'), CAST([], 'Array(UInt64)')) AS amounts,
       maxState(toUInt64(0)) AS peak
FROM events GROUP BY room_id, minute, kind;

-- Merged per-minute numbers: messages, amount (diamonds / likes / shares), peak.
CREATE VIEW IF NOT EXISTS room_minute_stats AS
SELECT room_id, minute, kind,
       uniqExactMerge(messages) AS messages,
       arraySum(maxMapMerge(amounts).2) AS amount,
       maxMerge(peak) AS peak
FROM room_minute
GROUP BY room_id, minute, kind;
