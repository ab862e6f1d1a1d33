//! `Event` → table row: one struct per table in `sql/`, fields 1:1 with its columns (a test pins
//! this), borrowing from the event so nothing is copied twice, written as a JSON line by
//! `columns!` through `json`. `Row` is one event's line as it crosses the reader→writer
//! channel (made on the reader's thread by `pipe`).
//!
//! Must not touch: I/O, protobuf.
//!
//! Value forms chosen so every ClickHouse version reads them the same way:
//! - `DateTime64(3, 'UTC')` columns get the string `"YYYY-MM-DD hh:mm:ss.mmm"` (UTC). A bare JSON
//!   integer of milliseconds is read as *seconds* by recent servers and silently clamped.
//! - `UInt64` ids are JSON integers written from `u64`: exact, never via a float.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::json::{self, Object, Value as _};
use crate::event::{ControlAction, Event, Meta, SocialKind, UserRef, Value};

/// Milliseconds since the epoch, serialised as a ClickHouse `DateTime64(3)` text value in UTC.
#[derive(Clone, Copy)]
pub struct DateTime64(pub i64);

impl json::Value for DateTime64 {
    fn write(&self, out: &mut Vec<u8>) {
        // Digits written into a stack buffer, not `format!`: JSON stage −34 % instructions.
        match datetime_ms_bytes(self.0) {
            Some(text) => {
                out.push(b'"');
                out.extend_from_slice(&text);
                out.push(b'"');
            }
            None => format_datetime_ms(self.0).write(out),
        }
    }
}

/// `1717000000123` → `2024-05-29 16:26:40.123` (proleptic Gregorian, UTC).
pub fn format_datetime_ms(ms: i64) -> String {
    match datetime_ms_bytes(ms) {
        Some(text) => String::from_utf8_lossy(&text).into_owned(),
        None => {
            let (year, month, day, sod, millis) = civil(ms);
            format!(
                "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}",
                sod / 3600,
                sod % 3600 / 60,
                sod % 60
            )
        }
    }
}

/// `YYYY-MM-DD hh:mm:ss.mmm` as ASCII bytes, for years 0 to 9999.
fn datetime_ms_bytes(ms: i64) -> Option<[u8; 23]> {
    let (year, month, day, sod, millis) = civil(ms);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut out = *b"0000-00-00 00:00:00.000";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, sod / 3600);
    put(14, 2, sod % 3600 / 60);
    put(17, 2, sod % 60);
    put(20, 3, millis);
    Some(out)
}

/// (year, month, day, second of the day, millisecond) of a Unix time in ms.
fn civil(ms: i64) -> (i64, i64, i64, i64, i64) {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, sod, millis)
}

pub struct UserCols<'a> {
    pub user_id: u64,
    pub unique_id: &'a str,
    pub nickname: &'a str,
    pub is_moderator: bool,
    pub is_subscriber: bool,
    pub is_follower: bool,
    pub is_friend: bool,
    pub gifter_level: u32,
    pub fan_club_level: u32,
    pub is_top_gifter: bool,
}

impl<'a> From<&'a UserRef> for UserCols<'a> {
    fn from(u: &'a UserRef) -> Self {
        UserCols {
            user_id: u.id,
            unique_id: &u.unique_id,
            nickname: &u.nickname,
            is_moderator: u.is_moderator,
            is_subscriber: u.is_subscriber,
            is_follower: u.is_follower,
            is_friend: u.is_friend,
            gifter_level: u.gifter_level,
            fan_club_level: u.fan_club_level,
            is_top_gifter: u.is_top_gifter,
        }
    }
}

/// Identity and time of the message a row comes from: the first columns of every event table.
pub struct Key {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
}

impl From<&Meta> for Key {
    fn from(m: &Meta) -> Self {
        Key {
            event_time: DateTime64(m.time_ms),
            room_id: m.room_id,
            msg_id: m.msg_id,
        }
    }
}

pub struct ChatRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub content: &'a str,
    pub language: &'a str,
    pub mention_user_id: u64,
    pub mention_user_ids: &'a [u64],
    pub emote_ids: Vec<&'a str>,
    pub emote_positions: Vec<i32>,
}

pub struct EmoteChatRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub emote_ids: &'a [String],
}

pub struct GiftRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub gift_id: u64,
    pub gift_name: &'a str,
    pub gift_type: i32,
    pub diamond_count: u32,
    pub repeat_count: u32,
    pub repeat_end: bool,
    pub combo_count: u32,
    pub group_id: u64,
    pub to_user_id: u64,
    pub is_final: bool,
    pub diamonds: u64,
}

pub struct LikeRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub count: u32,
    pub total: u64,
}

pub struct MemberRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub action: i32,
    pub member_count: u32,
}

pub struct SocialRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub kind: &'static str,
    pub action: i64,
    pub share_type: i64,
    pub share_target: &'a str,
    pub share_count: u32,
    pub follow_count: u64,
    pub display_key: &'a str,
}

pub struct ViewerCountRow {
    pub key: Key,
    pub viewers: u64,
    pub total_user: u64,
    pub popularity: u64,
    pub top_viewer_ids: Vec<u64>,
    pub top_viewer_scores: Vec<i64>,
}

pub struct ControlRow {
    pub key: Key,
    pub action: i32,
    pub action_name: &'static str,
}

pub struct SubscriptionRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub sub_month: u32,
    pub subscribe_type: i32,
    pub old_subscribe_status: i32,
    pub subscribing_status: i32,
    pub message_type: i32,
    pub is_send: bool,
    pub is_custom: bool,
    pub gift_source: i32,
    pub package_id: &'a str,
}

pub struct QuestionRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub question_id: u64,
    pub content: &'a str,
    pub answer_status: i32,
}

pub struct EnvelopeRow<'a> {
    pub key: Key,
    pub envelope_id: &'a str,
    pub business_type: i32,
    pub sender_id: u64,
    pub sender_name: &'a str,
    pub diamond_count: u32,
    pub people_count: u32,
    pub unpack_at: DateTime64,
    pub display: i32,
    pub is_super_fan_box: bool,
}

pub struct PollRow<'a> {
    pub key: Key,
    pub poll_id: u64,
    pub message_type: i64,
    pub kind: i32,
    pub title: &'a str,
    pub operator_id: u64,
    pub end_type: i32,
    pub option_indexes: Vec<i32>,
    pub option_texts: Vec<&'a str>,
    pub option_votes: Vec<i64>,
}

pub struct GoalRow<'a> {
    pub key: Key,
    pub goal_id: u64,
    pub description: &'a str,
    pub status: i32,
    pub contributor_id: u64,
    pub contributor_unique_id: &'a str,
    pub contribute_count: i64,
    pub contribute_score: i64,
    pub sub_goal_ids: Vec<u64>,
    pub sub_goal_types: Vec<i32>,
    pub sub_goal_progress: Vec<i64>,
    pub sub_goal_targets: Vec<i64>,
}

pub struct RankUpdateRow<'a> {
    pub key: Key,
    pub group_type: i32,
    pub op_type: i32,
    pub priority: i64,
    pub rank_types: Vec<i32>,
    pub own_ranks: Vec<i64>,
    pub scores: Vec<i64>,
    pub texts: Vec<&'a str>,
}

pub struct BattleRow<'a> {
    pub key: Key,
    pub battle_id: u64,
    pub action: i32,
    pub status: i32,
    pub battle_type: i32,
    pub channel_id: u64,
    pub start_time: DateTime64,
    pub duration_s: i32,
    pub host_ids: Vec<u64>,
    pub host_unique_ids: Vec<&'a str>,
    pub host_nicknames: Vec<&'a str>,
    pub host_team_ids: Vec<u64>,
    pub host_results: Vec<i32>,
    pub host_scores: Vec<i64>,
}

pub struct BattleArmiesRow<'a> {
    pub key: Key,
    pub battle_id: u64,
    pub trigger_reason: i32,
    pub from_user_id: u64,
    pub gift_id: u64,
    pub gift_count: i32,
    pub repeat_count: i32,
    pub total_diamond_count: i32,
    pub host_ids: Vec<u64>,
    pub host_scores: Vec<i64>,
    pub member_host_ids: Vec<u64>,
    pub member_user_ids: Vec<u64>,
    pub member_nicknames: Vec<&'a str>,
    pub member_scores: Vec<i64>,
}

/// The user columns are the pinned message's author; `operator_id` who pinned it.
pub struct RoomPinRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub operator_id: u64,
    pub action: i32,
    pub pinned_msg_id: u64,
    pub pinned_method: &'a str,
    pub pinned_content: &'a str,
    pub pin_time: DateTime64,
    pub display_duration_s: i64,
}

pub struct DeletedMessagesRow<'a> {
    pub key: Key,
    pub deleted_msg_ids: &'a [u64],
    pub deleted_user_ids: &'a [u64],
}

pub struct LiveIntroRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub intro_id: u64,
    pub content: &'a str,
    pub language: &'a str,
}

pub struct RoomMessageRow<'a> {
    pub key: Key,
    pub user: UserCols<'a>,
    pub kind: &'static str,
    pub content: &'a str,
    pub language: &'a str,
    pub code: i64,
}

/// A message of a method without a table of its own; `data` is its decoded fields as JSON.
pub struct GenericEventRow<'a> {
    pub key: Key,
    pub method: &'a str,
    pub user: UserCols<'a>,
    pub display_key: &'a str,
    pub data: String,
}

/// The latest known state of a user; `seen_at` is the version ReplacingMergeTree keeps.
pub struct UserRow<'a> {
    pub user: UserCols<'a>,
    pub sec_uid: &'a str,
    pub avatar_url: &'a str,
    pub follower_count: u64,
    pub following_count: u64,
    pub verified: bool,
    pub room_id: u64,
    pub msg_id: u64,
    pub seen_at: DateTime64,
}

pub struct RawRow<'a> {
    pub key: Key,
    pub method: &'a str,
    pub payload_b64: String,
    pub decode_error: &'a str,
}

/// The decoded fields of an `Other` event as one JSON object.
struct JsonFields<'a>(&'a [(&'static str, Value)]);

impl json::Value for JsonFields<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        let mut o = Object::open(out);
        for (key, value) in self.0 {
            o.entry(key, &JsonValue(value));
        }
        o.close();
    }
}

struct JsonValue<'a>(&'a Value);

impl json::Value for JsonValue<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self.0 {
            Value::Int(n) => n.write(out),
            Value::UInt(n) => n.write(out),
            Value::Bool(b) => b.write(out),
            Value::Text(t) => t.write(out),
            Value::List(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    JsonValue(item).write(out);
                }
                out.push(b']');
            }
            Value::Object(fields) => JsonFields(fields).write(out),
        }
    }
}

/// The fields as JSON text, for a `String` column.
fn fields_json(fields: &[(&'static str, Value)]) -> String {
    let mut text = Vec::new();
    JsonFields(fields).write(&mut text);
    String::from_utf8(text).expect("the JSON writer writes UTF-8 only")
}

pub struct SessionRow<'a> {
    pub host: &'a str,
    pub room_id: u64,
    pub connected_at: DateTime64,
    pub ended_at: Option<DateTime64>,
    pub end_reason: &'static str,
    pub frames: u64,
    pub messages: u64,
    pub bytes: u64,
    pub updated_at: DateTime64,
}

pub struct RoomRow<'a> {
    pub event_time: DateTime64,
    pub host: &'a str,
    pub room_id: u64,
    pub source: &'static str,
    pub status: i32,
    pub title: &'a str,
    pub viewers: u64,
    pub likes: u64,
    pub total_viewers: u64,
}

/// A row's columns, written as `"name":value` pairs into an open JSON object.
trait Columns {
    fn put(&self, o: &mut Object);
}

/// One field of a row struct: a value is a column of the field's name; `Key` and `UserCols`
/// are groups of columns, written in place.
trait Column {
    fn put(&self, name: &str, o: &mut Object);
}

impl<T: json::Value + ?Sized> Column for T {
    fn put(&self, name: &str, o: &mut Object) {
        o.field(name, self);
    }
}

impl Column for Key {
    fn put(&self, _: &str, o: &mut Object) {
        Columns::put(self, o);
    }
}

impl Column for UserCols<'_> {
    fn put(&self, _: &str, o: &mut Object) {
        Columns::put(self, o);
    }
}

/// `Columns` for a row struct: each listed field under its own name, in the order given.
macro_rules! columns {
    ($($row:ty: $($field:ident),+;)+) => {$(
        impl Columns for $row {
            fn put(&self, o: &mut Object) {
                $(Column::put(&self.$field, stringify!($field), o);)+
            }
        }
    )+};
}

columns! {
    UserCols<'_>: user_id, unique_id, nickname, is_moderator, is_subscriber, is_follower, is_friend, gifter_level, fan_club_level, is_top_gifter;
    Key: event_time, room_id, msg_id;
    ChatRow<'_>: key, user, content, language, mention_user_id, mention_user_ids, emote_ids, emote_positions;
    EmoteChatRow<'_>: key, user, emote_ids;
    GiftRow<'_>: key, user, gift_id, gift_name, gift_type, diamond_count, repeat_count, repeat_end, combo_count, group_id, to_user_id, is_final, diamonds;
    LikeRow<'_>: key, user, count, total;
    MemberRow<'_>: key, user, action, member_count;
    SocialRow<'_>: key, user, kind, action, share_type, share_target, share_count, follow_count, display_key;
    ViewerCountRow: key, viewers, total_user, popularity, top_viewer_ids, top_viewer_scores;
    ControlRow: key, action, action_name;
    SubscriptionRow<'_>: key, user, sub_month, subscribe_type, old_subscribe_status, subscribing_status, message_type, is_send, is_custom, gift_source, package_id;
    QuestionRow<'_>: key, user, question_id, content, answer_status;
    EnvelopeRow<'_>: key, envelope_id, business_type, sender_id, sender_name, diamond_count, people_count, unpack_at, display, is_super_fan_box;
    PollRow<'_>: key, poll_id, message_type, kind, title, operator_id, end_type, option_indexes, option_texts, option_votes;
    GoalRow<'_>: key, goal_id, description, status, contributor_id, contributor_unique_id, contribute_count, contribute_score, sub_goal_ids, sub_goal_types, sub_goal_progress, sub_goal_targets;
    RankUpdateRow<'_>: key, group_type, op_type, priority, rank_types, own_ranks, scores, texts;
    BattleRow<'_>: key, battle_id, action, status, battle_type, channel_id, start_time, duration_s, host_ids, host_unique_ids, host_nicknames, host_team_ids, host_results, host_scores;
    BattleArmiesRow<'_>: key, battle_id, trigger_reason, from_user_id, gift_id, gift_count, repeat_count, total_diamond_count, host_ids, host_scores, member_host_ids, member_user_ids, member_nicknames, member_scores;
    RoomPinRow<'_>: key, user, operator_id, action, pinned_msg_id, pinned_method, pinned_content, pin_time, display_duration_s;
    DeletedMessagesRow<'_>: key, deleted_msg_ids, deleted_user_ids;
    LiveIntroRow<'_>: key, user, intro_id, content, language;
    RoomMessageRow<'_>: key, user, kind, content, language, code;
    GenericEventRow<'_>: key, method, user, display_key, data;
    UserRow<'_>: user, sec_uid, avatar_url, follower_count, following_count, verified, room_id, msg_id, seen_at;
    RawRow<'_>: key, method, payload_b64, decode_error;
    SessionRow<'_>: host, room_id, connected_at, ended_at, end_reason, frames, messages, bytes, updated_at;
    RoomRow<'_>: event_time, host, room_id, source, status, title, viewers, likes, total_viewers;
}

/// Appends `row` as one JSON line.
fn line(out: &mut Vec<u8>, row: &impl Columns) {
    let mut o = Object::open(out);
    row.put(&mut o);
    o.close();
    out.push(b'\n');
}

fn social_kind(kind: SocialKind) -> &'static str {
    match kind {
        SocialKind::Follow => "follow",
        SocialKind::Share => "share",
        SocialKind::Other => "other",
    }
}

fn control_name(action: ControlAction) -> &'static str {
    match action {
        ControlAction::Paused => "paused",
        ControlAction::Unpaused => "unpaused",
        ControlAction::Ended => "ended",
        ControlAction::Suspended => "suspended",
        ControlAction::Unknown(_) => "unknown",
    }
}

/// Every table a row can go to, in the order of `sql/`.
pub const TABLES: &[&str] = &[
    "chat",
    "gifts",
    "likes",
    "members",
    "social",
    "viewer_counts",
    "control",
    "raw_messages",
    "emote_chat",
    "subscriptions",
    "questions",
    "envelopes",
    "polls",
    "goals",
    "rank_updates",
    "battles",
    "battle_armies",
    "room_pins",
    "deleted_messages",
    "live_intros",
    "room_messages",
    "events",
    "users",
    "sessions",
    "rooms",
];

/// The column list an insert into `table` must name, for tables whose rows carry EPHEMERAL
/// columns (JSONEachRow fills those only when the insert names them); `None`: all columns.
pub fn explicit_columns(table: &str) -> Option<&'static str> {
    match table {
        "raw_messages" => Some("event_time, room_id, msg_id, method, payload_b64, decode_error"),
        _ => None,
    }
}

/// The table an event's row goes to.
pub fn table_of(event: &Event) -> &'static str {
    match event {
        Event::Chat(_) => "chat",
        Event::EmoteChat(_) => "emote_chat",
        Event::Gift(_) => "gifts",
        Event::Like(_) => "likes",
        Event::Member(_) => "members",
        Event::Social(_) => "social",
        Event::ViewerCount(_) => "viewer_counts",
        Event::Control(_) => "control",
        Event::Subscription(_) => "subscriptions",
        Event::Question(_) => "questions",
        Event::Envelope(_) => "envelopes",
        Event::Poll(_) => "polls",
        Event::Goal(_) => "goals",
        Event::RankUpdate(_) => "rank_updates",
        Event::Battle(_) => "battles",
        Event::BattleArmies(_) => "battle_armies",
        Event::RoomPin(_) => "room_pins",
        Event::ImDelete(_) => "deleted_messages",
        Event::LiveIntro(_) => "live_intros",
        Event::RoomText(_) => "room_messages",
        Event::Other(_) => "events",
        Event::User(_) => "users",
        Event::Raw(_) => "raw_messages",
        Event::Session(_) => "sessions",
        Event::Room(_) => "rooms",
    }
}

/// An event as its table's JSON line: what the reader hands the writer (`pipe`). Made on the
/// reader's thread, so the writer only appends bytes and the event's strings are freed by the
/// thread that allocated them (the writer freeing them took the reader's heap lock per string).
pub struct Row {
    pub table: &'static str,
    /// One JSON line, `\n` included.
    pub line: Box<[u8]>,
}

thread_local! {
    /// Each reader's buffer for the line being written.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Row {
    pub fn of(event: &Event) -> Row {
        // Written into the thread's scratch buffer, then copied into one block of its exact
        // size (a 768-byte Vec grown as needed left slack in the reader's heap for the writer
        // to free: c grew +1.6 and +2.5 MB over 1 M events in two runs; exact: −0.4, +0.4).
        let line = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            write_json_line(event, &mut scratch);
            Box::<[u8]>::from(scratch.as_slice())
        });
        Row {
            table: table_of(event),
            line,
        }
    }
}

/// Appends the event's row as one JSON line to `out`.
pub fn write_json_line(event: &Event, out: &mut Vec<u8>) {
    let w = &mut *out;
    let key = Key::from(event.meta());
    match event {
        Event::Chat(e) => line(
            w,
            &ChatRow {
                key,
                user: (&e.user).into(),
                content: &e.content,
                language: &e.language,
                mention_user_id: e.mention_user_id,
                mention_user_ids: &e.mention_user_ids,
                emote_ids: e.emotes.iter().map(|x| x.emote_id.as_str()).collect(),
                emote_positions: e.emotes.iter().map(|x| x.index).collect(),
            },
        ),
        Event::EmoteChat(e) => line(
            w,
            &EmoteChatRow {
                key,
                user: (&e.user).into(),
                emote_ids: &e.emote_ids,
            },
        ),
        Event::Gift(e) => line(
            w,
            &GiftRow {
                key,
                user: (&e.user).into(),
                gift_id: e.gift_id,
                gift_name: &e.gift_name,
                gift_type: e.gift_type,
                diamond_count: e.diamond_count,
                repeat_count: e.repeat_count,
                repeat_end: e.repeat_end,
                combo_count: e.combo_count,
                group_id: e.group_id,
                to_user_id: e.to_user_id,
                is_final: e.is_final,
                diamonds: e.diamonds,
            },
        ),
        Event::Like(e) => line(
            w,
            &LikeRow {
                key,
                user: (&e.user).into(),
                count: e.count,
                total: e.total,
            },
        ),
        Event::Member(e) => line(
            w,
            &MemberRow {
                key,
                user: (&e.user).into(),
                action: e.action,
                member_count: e.member_count,
            },
        ),
        Event::Social(e) => line(
            w,
            &SocialRow {
                key,
                user: (&e.user).into(),
                kind: social_kind(e.kind),
                action: e.action,
                share_type: e.share_type,
                share_target: &e.share_target,
                share_count: e.share_count,
                follow_count: e.follow_count,
                display_key: &e.display_key,
            },
        ),
        Event::ViewerCount(e) => line(
            w,
            &ViewerCountRow {
                key,
                viewers: e.viewers,
                total_user: e.total_user,
                popularity: e.popularity,
                top_viewer_ids: e.top_viewers.iter().map(|v| v.user.id).collect(),
                top_viewer_scores: e.top_viewers.iter().map(|v| v.score).collect(),
            },
        ),
        Event::Control(e) => line(
            w,
            &ControlRow {
                key,
                action: e.action.code(),
                action_name: control_name(e.action),
            },
        ),
        Event::Subscription(e) => line(
            w,
            &SubscriptionRow {
                key,
                user: (&e.user).into(),
                sub_month: e.sub_month,
                subscribe_type: e.subscribe_type,
                old_subscribe_status: e.old_subscribe_status,
                subscribing_status: e.subscribing_status,
                message_type: e.message_type,
                is_send: e.is_send,
                is_custom: e.is_custom,
                gift_source: e.gift_source,
                package_id: &e.package_id,
            },
        ),
        Event::Question(e) => line(
            w,
            &QuestionRow {
                key,
                user: (&e.user).into(),
                question_id: e.question_id,
                content: &e.content,
                answer_status: e.answer_status,
            },
        ),
        Event::Envelope(e) => line(
            w,
            &EnvelopeRow {
                key,
                envelope_id: &e.envelope_id,
                business_type: e.business_type,
                sender_id: e.sender_id,
                sender_name: &e.sender_name,
                diamond_count: e.diamond_count,
                people_count: e.people_count,
                unpack_at: DateTime64(e.unpack_at_ms),
                display: e.display,
                is_super_fan_box: e.is_super_fan_box,
            },
        ),
        Event::Poll(e) => line(
            w,
            &PollRow {
                key,
                poll_id: e.poll_id,
                message_type: e.message_type,
                kind: e.kind,
                title: &e.title,
                operator_id: e.operator.id,
                end_type: e.end_type,
                option_indexes: e.options.iter().map(|o| o.index).collect(),
                option_texts: e.options.iter().map(|o| o.text.as_str()).collect(),
                option_votes: e.options.iter().map(|o| o.votes).collect(),
            },
        ),
        Event::Goal(e) => line(
            w,
            &GoalRow {
                key,
                goal_id: e.goal_id,
                description: &e.description,
                status: e.status,
                contributor_id: e.contributor_id,
                contributor_unique_id: &e.contributor_unique_id,
                contribute_count: e.contribute_count,
                contribute_score: e.contribute_score,
                sub_goal_ids: e.sub_goals.iter().map(|g| g.id).collect(),
                sub_goal_types: e.sub_goals.iter().map(|g| g.kind).collect(),
                sub_goal_progress: e.sub_goals.iter().map(|g| g.progress).collect(),
                sub_goal_targets: e.sub_goals.iter().map(|g| g.target).collect(),
            },
        ),
        Event::RankUpdate(e) => line(
            w,
            &RankUpdateRow {
                key,
                group_type: e.group_type,
                op_type: e.op_type,
                priority: e.priority,
                rank_types: e.ranks.iter().map(|r| r.rank_type).collect(),
                own_ranks: e.ranks.iter().map(|r| r.own_rank).collect(),
                scores: e.ranks.iter().map(|r| r.score).collect(),
                texts: e.ranks.iter().map(|r| r.text.as_str()).collect(),
            },
        ),
        Event::Battle(e) => line(
            w,
            &BattleRow {
                key,
                battle_id: e.battle_id,
                action: e.action,
                status: e.status,
                battle_type: e.battle_type,
                channel_id: e.channel_id,
                start_time: DateTime64(e.start_time_ms),
                duration_s: e.duration_s,
                host_ids: e.hosts.iter().map(|h| h.user_id).collect(),
                host_unique_ids: e.hosts.iter().map(|h| h.unique_id.as_str()).collect(),
                host_nicknames: e.hosts.iter().map(|h| h.nickname.as_str()).collect(),
                host_team_ids: e.hosts.iter().map(|h| h.team_id).collect(),
                host_results: e.hosts.iter().map(|h| h.result).collect(),
                host_scores: e.hosts.iter().map(|h| h.score).collect(),
            },
        ),
        Event::BattleArmies(e) => line(
            w,
            &BattleArmiesRow {
                key,
                battle_id: e.battle_id,
                trigger_reason: e.trigger_reason,
                from_user_id: e.from_user_id,
                gift_id: e.gift_id,
                gift_count: e.gift_count,
                repeat_count: e.repeat_count,
                total_diamond_count: e.total_diamond_count,
                host_ids: e.host_scores.iter().map(|h| h.0).collect(),
                host_scores: e.host_scores.iter().map(|h| h.1).collect(),
                member_host_ids: e.members.iter().map(|m| m.host_id).collect(),
                member_user_ids: e.members.iter().map(|m| m.user_id).collect(),
                member_nicknames: e.members.iter().map(|m| m.nickname.as_str()).collect(),
                member_scores: e.members.iter().map(|m| m.score).collect(),
            },
        ),
        Event::RoomPin(e) => line(
            w,
            &RoomPinRow {
                key,
                user: (&e.pinned_user).into(),
                operator_id: e.operator.id,
                action: e.action,
                pinned_msg_id: e.pinned_msg_id,
                pinned_method: &e.pinned_method,
                pinned_content: &e.pinned_content,
                pin_time: DateTime64(e.pin_time_ms),
                display_duration_s: e.display_duration_s,
            },
        ),
        Event::ImDelete(e) => line(
            w,
            &DeletedMessagesRow {
                key,
                deleted_msg_ids: &e.msg_ids,
                deleted_user_ids: &e.user_ids,
            },
        ),
        Event::LiveIntro(e) => line(
            w,
            &LiveIntroRow {
                key,
                user: (&e.user).into(),
                intro_id: e.intro_id,
                content: &e.content,
                language: &e.language,
            },
        ),
        Event::RoomText(e) => line(
            w,
            &RoomMessageRow {
                key,
                user: (&e.user).into(),
                kind: e.kind,
                content: &e.content,
                language: &e.language,
                code: e.code,
            },
        ),
        Event::Other(e) => line(
            w,
            &GenericEventRow {
                key,
                method: &e.method,
                user: (&e.user).into(),
                display_key: &e.display_key,
                data: fields_json(&e.fields),
            },
        ),
        Event::User(e) => line(
            w,
            &UserRow {
                user: (&e.user).into(),
                sec_uid: &e.user.profile.sec_uid,
                avatar_url: &e.user.profile.avatar_url,
                follower_count: e.user.profile.follower_count,
                following_count: e.user.profile.following_count,
                verified: e.user.profile.verified,
                room_id: e.meta.room_id,
                msg_id: e.meta.msg_id,
                seen_at: DateTime64(e.meta.time_ms),
            },
        ),
        Event::Raw(e) => line(
            w,
            &RawRow {
                key,
                method: &e.method,
                payload_b64: BASE64.encode(&e.payload),
                decode_error: e.error.as_deref().unwrap_or(""),
            },
        ),
        Event::Session(e) => line(
            w,
            &SessionRow {
                host: &e.host,
                room_id: key.room_id,
                connected_at: DateTime64(e.connected_ms),
                ended_at: e.ended_ms.map(DateTime64),
                end_reason: e.end_reason,
                frames: e.frames,
                messages: e.messages,
                bytes: e.bytes,
                updated_at: key.event_time,
            },
        ),
        Event::Room(e) => line(
            w,
            &RoomRow {
                event_time: key.event_time,
                host: &e.host,
                room_id: key.room_id,
                source: e.source,
                status: e.status,
                title: &e.title,
                viewers: e.viewers,
                likes: e.likes,
                total_viewers: e.total_viewers,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;

    #[test]
    fn datetime_is_utc_text_with_millis() {
        assert_eq!(
            format_datetime_ms(1_717_000_000_123),
            "2024-05-29 16:26:40.123"
        );
        assert_eq!(format_datetime_ms(0), "1970-01-01 00:00:00.000");
        assert_eq!(
            format_datetime_ms(951_782_400_000),
            "2000-02-29 00:00:00.000"
        );
        assert_eq!(format_datetime_ms(-1), "1969-12-31 23:59:59.999");
        assert_eq!(
            format_datetime_ms(253_402_300_800_000),
            "10000-01-01 00:00:00.000"
        );
        assert_eq!(
            format_datetime_ms(-62_167_219_200_001),
            "-001-12-31 23:59:59.999"
        );
    }

    #[test]
    fn decoded_fields_are_one_json_object() {
        let fields = [
            ("a", Value::Int(-1)),
            (
                "b",
                Value::List(vec![Value::UInt(1), Value::Text("x\"".into())]),
            ),
            ("c", Value::Object(vec![("d", Value::Bool(true))])),
            ("e", Value::List(vec![])),
        ];
        assert_eq!(
            fields_json(&fields),
            r#"{"a":-1,"b":[1,"x\""],"c":{"d":true},"e":[]}"#
        );
    }

    fn meta() -> Meta {
        Meta {
            room_id: 1,
            msg_id: 2,
            time_ms: 3,
        }
    }

    /// One event of every kind, so the contract test below covers every table.
    pub(crate) fn one_of_each() -> Vec<Event> {
        let user = UserRef::default;
        vec![
            Event::Chat(Chat {
                meta: meta(),
                user: user(),
                content: String::new(),
                language: String::new(),
                mention_user_id: 0,
                mention_user_ids: vec![],
                emotes: vec![],
            }),
            Event::Gift(Gift {
                meta: meta(),
                user: user(),
                gift_id: 0,
                gift_name: String::new(),
                gift_type: 1,
                diamond_count: 0,
                repeat_count: 0,
                repeat_end: false,
                combo_count: 0,
                group_id: 0,
                to_user_id: 0,
                is_final: false,
                diamonds: 0,
            }),
            Event::Like(Like {
                meta: meta(),
                user: user(),
                count: 0,
                total: 0,
            }),
            Event::Member(Member {
                meta: meta(),
                user: user(),
                action: 0,
                member_count: 0,
            }),
            Event::Social(Social {
                meta: meta(),
                user: user(),
                kind: SocialKind::Other,
                action: 0,
                share_type: 0,
                share_target: String::new(),
                share_count: 0,
                follow_count: 0,
                display_key: String::new(),
            }),
            Event::ViewerCount(ViewerCount {
                meta: meta(),
                viewers: 0,
                total_user: 0,
                popularity: 0,
                top_viewers: vec![],
            }),
            Event::Control(Control {
                meta: meta(),
                action: ControlAction::Ended,
            }),
            Event::EmoteChat(EmoteChat {
                meta: meta(),
                user: user(),
                emote_ids: vec!["e".into()],
            }),
            Event::Subscription(Subscription {
                meta: meta(),
                user: user(),
                sub_month: 1,
                subscribe_type: 0,
                old_subscribe_status: 0,
                subscribing_status: 0,
                message_type: 0,
                is_send: false,
                is_custom: false,
                gift_source: 0,
                package_id: String::new(),
            }),
            Event::Question(Question {
                meta: meta(),
                user: user(),
                question_id: 1,
                content: String::new(),
                answer_status: 0,
            }),
            Event::Envelope(Envelope {
                meta: meta(),
                envelope_id: String::new(),
                business_type: 19,
                sender_id: 0,
                sender_name: String::new(),
                diamond_count: 0,
                people_count: 0,
                unpack_at_ms: 0,
                display: 0,
                is_super_fan_box: true,
            }),
            Event::Poll(Poll {
                meta: meta(),
                poll_id: 1,
                message_type: 0,
                kind: 0,
                title: String::new(),
                operator: user(),
                options: vec![PollOption {
                    index: 0,
                    text: "a".into(),
                    votes: 1,
                }],
                end_type: 0,
            }),
            Event::Goal(Goal {
                meta: meta(),
                goal_id: 1,
                description: String::new(),
                status: 0,
                contributor_id: 0,
                contributor_unique_id: String::new(),
                contribute_count: 0,
                contribute_score: 0,
                sub_goals: vec![SubGoal {
                    id: 1,
                    kind: 0,
                    progress: 1,
                    target: 2,
                }],
            }),
            Event::RankUpdate(RankUpdate {
                meta: meta(),
                group_type: 0,
                op_type: 0,
                priority: 0,
                ranks: vec![],
            }),
            Event::Battle(Battle {
                meta: meta(),
                battle_id: 1,
                action: 0,
                status: 0,
                battle_type: 0,
                channel_id: 0,
                start_time_ms: 0,
                duration_s: 0,
                hosts: vec![],
            }),
            Event::BattleArmies(BattleArmies {
                meta: meta(),
                battle_id: 1,
                trigger_reason: 0,
                from_user_id: 0,
                gift_id: 0,
                gift_count: 0,
                repeat_count: 0,
                total_diamond_count: 0,
                host_scores: vec![(1, 2)],
                members: vec![],
            }),
            Event::RoomPin(Box::new(RoomPin {
                meta: meta(),
                operator: user(),
                action: 1,
                pinned_msg_id: 0,
                pinned_method: String::new(),
                pinned_user: user(),
                pinned_content: String::new(),
                pin_time_ms: 0,
                display_duration_s: 0,
            })),
            Event::ImDelete(ImDelete {
                meta: meta(),
                msg_ids: vec![1],
                user_ids: vec![],
            }),
            Event::LiveIntro(LiveIntro {
                meta: meta(),
                user: user(),
                intro_id: 0,
                content: String::new(),
                language: String::new(),
            }),
            Event::RoomText(RoomText {
                meta: meta(),
                kind: "room",
                content: String::new(),
                language: String::new(),
                user: user(),
                code: 0,
            }),
            Event::Other(Other {
                meta: meta(),
                method: "WebcastToastMessage".into(),
                user: user(),
                display_key: String::new(),
                fields: vec![("scene", Value::Text("x".into()))],
            }),
            Event::User(UserSeen {
                meta: meta(),
                user: user(),
            }),
            Event::Raw(Raw {
                meta: meta(),
                method: String::new(),
                payload: vec![],
                error: None,
            }),
            Event::Session(Session {
                meta: meta(),
                host: String::new(),
                connected_ms: 0,
                ended_ms: Some(1),
                end_reason: "closed",
                frames: 0,
                messages: 0,
                bytes: 0,
            }),
            Event::Room(RoomSnapshot {
                meta: meta(),
                host: String::new(),
                source: "html",
                status: 2,
                title: String::new(),
                viewers: 0,
                likes: 0,
                total_viewers: 0,
            }),
        ]
    }

    /// The columns a row must carry for `table`, from every migration in order: those of its
    /// `CREATE TABLE`, plus `ALTER TABLE … ADD COLUMN`, minus `DROP COLUMN`; columns the server
    /// fills itself (DEFAULT, MATERIALIZED, ALIAS) are left out, EPHEMERAL ones kept.
    fn insert_columns(table: &str) -> Vec<String> {
        let server_filled = |def: &str| {
            [" DEFAULT ", " MATERIALIZED ", " ALIAS "]
                .iter()
                .any(|k| def.contains(k))
        };
        let mut cols: Vec<String> = Vec::new();
        let mut created = 0;
        for m in crate::clickhouse::schema::MIGRATIONS {
            for stmt in crate::clickhouse::schema::statements(m.sql) {
                if stmt.starts_with(&format!("CREATE TABLE IF NOT EXISTS {table}\n")) {
                    created += 1;
                    let body = &stmt[stmt.find('(').unwrap() + 1..stmt.find("\nENGINE").unwrap()];
                    let body = &body[..body.rfind(')').unwrap()];
                    cols.extend(
                        body.lines()
                            .map(|l| l.split("--").next().unwrap().trim().trim_end_matches(','))
                            .filter(|l| !l.is_empty() && !server_filled(&format!(" {l} ")))
                            .map(|l| l.split_whitespace().next().unwrap().to_string()),
                    );
                } else if let Some(rest) =
                    stmt.strip_prefix(&format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "))
                {
                    if !server_filled(&format!(" {rest} ")) {
                        cols.push(rest.split_whitespace().next().unwrap().to_string());
                    }
                } else if let Some(rest) =
                    stmt.strip_prefix(&format!("ALTER TABLE {table} DROP COLUMN IF EXISTS "))
                {
                    let name = rest.split_whitespace().next().unwrap();
                    cols.retain(|c| c != name);
                }
            }
        }
        assert_eq!(
            created, 1,
            "exactly one migration must create table {table}"
        );
        cols
    }

    #[test]
    fn open_session_has_a_null_end() {
        let mut line = Vec::new();
        let open = Event::Session(Session {
            meta: Meta {
                room_id: 7,
                msg_id: 0,
                time_ms: 1_717_000_000_123,
            },
            host: "someone".into(),
            connected_ms: 1_717_000_000_123,
            ended_ms: None,
            end_reason: "open",
            frames: 0,
            messages: 0,
            bytes: 0,
        });
        write_json_line(&open, &mut line);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"host\":\"someone\",\"room_id\":7,\"connected_at\":\"2024-05-29 16:26:40.123\",\"ended_at\":null,\"end_reason\":\"open\",\"frames\":0,\"messages\":0,\"bytes\":0,\"updated_at\":\"2024-05-29 16:26:40.123\"}\n"
        );
    }

    #[test]
    fn row_keys_equal_table_columns() {
        let events = one_of_each();
        let mut covered: Vec<&str> = events.iter().map(table_of).collect();
        covered.sort();
        let mut tables = TABLES.to_vec();
        tables.sort();
        assert_eq!(covered, tables, "one_of_each must hold one event per table");
        for event in events {
            let table = table_of(&event);
            let mut line = Vec::new();
            write_json_line(&event, &mut line);
            let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
            let mut cols = insert_columns(table);
            if let Some(list) = explicit_columns(table) {
                let mut listed: Vec<&str> = list.split(", ").collect();
                listed.sort();
                let mut sorted = keys.clone();
                sorted.sort();
                assert_eq!(
                    sorted, listed,
                    "row keys of {table} differ from its insert column list"
                );
            }
            keys.sort();
            cols.sort();
            assert_eq!(
                keys, cols,
                "row keys of table {table} differ from its sql/ columns"
            );
        }
    }
}
