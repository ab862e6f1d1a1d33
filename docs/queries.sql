-- Example queries over the chakal-ingest schema. `{room_id:UInt64}` is a query parameter
-- (clickhouse-client --param_room_id=…, or the HTTP `param_room_id` URL parameter); a room id
-- is one stream. Rollups (room_minute_stats, stream_gifters_stats) count each message once
-- even if it was stored twice; queries on event tables use FINAL for the same reason.
-- tests/clickhouse_messages.rs runs every query here against the fixture captures.
--
-- Duplicates, and what holds without FINAL:
-- - a retried insert (same batch, same insert_deduplication_token) is stored once, also after a
--   ClickHouse restart (within the last 10 000 inserts per table): no FINAL needed;
-- - a message replayed by TikTok is dropped by the reader (last 100 000 msg ids per reader);
-- - a message stored twice in different batches (history replayed after a process restart,
--   an overlapping first batch in a new process) stays twice in its event table until a
--   background merge collapses it (ReplacingMergeTree on room_id, event_time, msg_id): use
--   FINAL (or count(DISTINCT msg_id)) on event tables for exact counts; the rollups
--   (room_minute_stats, stream_gifters_stats) are exact without FINAL.

-- 1. Top 10 gifters of a stream: diamonds from final gifts only (a streak counts once).
SELECT user_id, unique_id, nickname, gifts, diamonds
FROM stream_gifters_stats
WHERE room_id = {room_id:UInt64}
ORDER BY diamonds DESC, user_id
LIMIT 10;

-- 2. Diamonds per minute of a stream.
SELECT minute, amount AS diamonds, messages AS gifts
FROM room_minute_stats
WHERE room_id = {room_id:UInt64} AND kind = 'gift'
ORDER BY minute;

-- 3. Chat rate: chat messages per minute of a stream.
SELECT minute, messages AS chat_messages
FROM room_minute_stats
WHERE room_id = {room_id:UInt64} AND kind = 'chat'
ORDER BY minute;

-- 4. Peak viewers of each stream, and the minute it was reached.
SELECT room_id, max(peak) AS peak_viewers, argMax(minute, peak) AS reached_at
FROM room_minute_stats
WHERE kind = 'viewers'
GROUP BY room_id
ORDER BY peak_viewers DESC, room_id
LIMIT 20;

-- 5. New followers of a stream, in order.
SELECT min(event_time) AS followed_at, user_id, any(unique_id) AS unique_id, any(nickname) AS nickname
FROM social FINAL
WHERE room_id = {room_id:UInt64} AND kind = 'follow'
GROUP BY user_id
ORDER BY followed_at, user_id;

-- 6. Most active chatters of a stream, with their flags.
SELECT user_id, any(unique_id) AS unique_id, any(nickname) AS nickname, count() AS messages,
       max(is_moderator) AS moderator, max(is_subscriber) AS subscriber,
       max(gifter_level) AS gifter_level, max(fan_club_level) AS fan_club_level
FROM chat FINAL
WHERE room_id = {room_id:UInt64}
GROUP BY user_id
ORDER BY messages DESC, user_id
LIMIT 10;

-- 7. A stream minute by minute: chat, likes, joins, follows, shares, diamonds, viewers.
SELECT minute,
       sumIf(messages, kind = 'chat') AS chat_messages,
       sumIf(amount, kind = 'like') AS likes,
       sumIf(messages, kind = 'join') AS joins,
       sumIf(messages, kind = 'follow') AS follows,
       sumIf(messages, kind = 'share') AS shares,
       sumIf(amount, kind = 'gift') AS diamonds,
       maxIf(peak, kind = 'viewers') AS viewers
FROM room_minute_stats
WHERE room_id = {room_id:UInt64}
GROUP BY minute
ORDER BY minute;

-- 8. Messages by type over all streams (typed tables and the methods kept in `events`).
SELECT kind, sum(messages) AS messages
FROM room_minute_stats
GROUP BY kind
ORDER BY messages DESC, kind;
