//! `Event` → table row: one `#[derive(Serialize)]` struct per table in `sql/`, fields 1:1 with
//! its columns (a test pins this), borrowing from the event so nothing is copied twice.
//!
//! The only serde types in the crate. Must not touch: I/O, protobuf.
//!
//! Value forms chosen so every ClickHouse version reads them the same way:
//! - `DateTime64(3, 'UTC')` columns get the string `"YYYY-MM-DD hh:mm:ss.mmm"` (UTC). A bare JSON
//!   integer of milliseconds is read as *seconds* by recent servers and silently clamped.
//! - `UInt64` ids are JSON integers written by serde_json from `u64`: exact, never via a float.

use serde::{Serialize, Serializer};

use crate::event::{ControlAction, Event, SocialKind, UserRef};

/// Milliseconds since the epoch, serialised as a ClickHouse `DateTime64(3)` text value in UTC.
#[derive(Clone, Copy)]
pub struct DateTime64(pub i64);

impl Serialize for DateTime64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}", format_datetime_ms(self.0)))
    }
}

/// `1717000000123` → `2024-05-29 16:26:40.123` (proleptic Gregorian, UTC).
pub fn format_datetime_ms(ms: i64) -> String {
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
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[derive(Serialize)]
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

#[derive(Serialize)]
pub struct ChatRow<'a> {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
    #[serde(flatten)]
    pub user: UserCols<'a>,
    pub content: &'a str,
    pub language: &'a str,
    pub mention_user_id: u64,
}

#[derive(Serialize)]
pub struct GiftRow<'a> {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
    #[serde(flatten)]
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

#[derive(Serialize)]
pub struct LikeRow<'a> {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
    #[serde(flatten)]
    pub user: UserCols<'a>,
    pub count: u32,
    pub total: u64,
}

#[derive(Serialize)]
pub struct MemberRow<'a> {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
    #[serde(flatten)]
    pub user: UserCols<'a>,
    pub action: i32,
    pub member_count: u32,
}

#[derive(Serialize)]
pub struct SocialRow<'a> {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
    #[serde(flatten)]
    pub user: UserCols<'a>,
    pub kind: &'static str,
    pub action: i64,
    pub share_type: i64,
    pub share_target: &'a str,
    pub share_count: u32,
    pub follow_count: u64,
    pub display_key: &'a str,
}

#[derive(Serialize)]
pub struct ViewerCountRow {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
    pub viewers: u64,
    pub total_user: u64,
    pub popularity: u64,
    pub top_viewer_ids: Vec<u64>,
    pub top_viewer_scores: Vec<i64>,
}

#[derive(Serialize)]
pub struct ControlRow {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
    pub action: i32,
    pub action_name: &'static str,
}

#[derive(Serialize)]
pub struct RawRow<'a> {
    pub event_time: DateTime64,
    pub room_id: u64,
    pub msg_id: u64,
    pub method: &'a str,
    pub payload_b64: String,
    pub decode_error: &'a str,
}

#[derive(Serialize)]
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

#[derive(Serialize)]
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

/// The table an event's row goes to.
pub fn table_of(event: &Event) -> &'static str {
    match event {
        Event::Chat(_) => "chat",
        Event::Gift(_) => "gifts",
        Event::Like(_) => "likes",
        Event::Member(_) => "members",
        Event::Social(_) => "social",
        Event::ViewerCount(_) => "viewer_counts",
        Event::Control(_) => "control",
        Event::Raw(_) => "raw_messages",
        Event::Session(_) => "sessions",
        Event::Room(_) => "rooms",
    }
}

/// Appends the event's row as one JSON line to `out`.
pub fn write_json_line(event: &Event, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let m = event.meta();
    let (event_time, room_id, msg_id) = (DateTime64(m.time_ms), m.room_id, m.msg_id);
    match event {
        Event::Chat(e) => serde_json::to_writer(
            &mut *out,
            &ChatRow {
                event_time,
                room_id,
                msg_id,
                user: (&e.user).into(),
                content: &e.content,
                language: &e.language,
                mention_user_id: e.mention_user_id,
            },
        ),
        Event::Gift(e) => serde_json::to_writer(
            &mut *out,
            &GiftRow {
                event_time,
                room_id,
                msg_id,
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
        Event::Like(e) => serde_json::to_writer(
            &mut *out,
            &LikeRow {
                event_time,
                room_id,
                msg_id,
                user: (&e.user).into(),
                count: e.count,
                total: e.total,
            },
        ),
        Event::Member(e) => serde_json::to_writer(
            &mut *out,
            &MemberRow {
                event_time,
                room_id,
                msg_id,
                user: (&e.user).into(),
                action: e.action,
                member_count: e.member_count,
            },
        ),
        Event::Social(e) => serde_json::to_writer(
            &mut *out,
            &SocialRow {
                event_time,
                room_id,
                msg_id,
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
        Event::ViewerCount(e) => serde_json::to_writer(
            &mut *out,
            &ViewerCountRow {
                event_time,
                room_id,
                msg_id,
                viewers: e.viewers,
                total_user: e.total_user,
                popularity: e.popularity,
                top_viewer_ids: e.top_viewers.iter().map(|v| v.0).collect(),
                top_viewer_scores: e.top_viewers.iter().map(|v| v.1).collect(),
            },
        ),
        Event::Control(e) => serde_json::to_writer(
            &mut *out,
            &ControlRow {
                event_time,
                room_id,
                msg_id,
                action: e.action.code(),
                action_name: control_name(e.action),
            },
        ),
        Event::Raw(e) => serde_json::to_writer(
            &mut *out,
            &RawRow {
                event_time,
                room_id,
                msg_id,
                method: &e.method,
                payload_b64: base64(&e.payload),
                decode_error: e.error.as_deref().unwrap_or(""),
            },
        ),
        Event::Session(e) => serde_json::to_writer(
            &mut *out,
            &SessionRow {
                host: &e.host,
                room_id,
                connected_at: DateTime64(e.connected_ms),
                ended_at: e.ended_ms.map(DateTime64),
                end_reason: e.end_reason,
                frames: e.frames,
                messages: e.messages,
                bytes: e.bytes,
                updated_at: event_time,
            },
        ),
        Event::Room(e) => serde_json::to_writer(
            &mut *out,
            &RoomRow {
                event_time,
                host: &e.host,
                room_id,
                source: e.source,
                status: e.status,
                title: &e.title,
                viewers: e.viewers,
                likes: e.likes,
                total_viewers: e.total_viewers,
            },
        ),
    }?;
    out.push(b'\n');
    Ok(())
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(s & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
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

    /// Columns of a `CREATE TABLE` in sql/, without those the server fills (DEFAULT …).
    fn insert_columns(ddl: &str) -> Vec<String> {
        let ddl: String = ddl
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        let body = &ddl[ddl.find('(').unwrap() + 1..ddl.find("ENGINE").unwrap()];
        let body = &body[..body.rfind(')').unwrap()];
        body.lines()
            .map(|l| l.split("--").next().unwrap().trim())
            .filter(|l| !l.is_empty() && !l.contains(" DEFAULT "))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
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
        write_json_line(&open, &mut line).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"host\":\"someone\",\"room_id\":7,\"connected_at\":\"2024-05-29 16:26:40.123\",\"ended_at\":null,\"end_reason\":\"open\",\"frames\":0,\"messages\":0,\"bytes\":0,\"updated_at\":\"2024-05-29 16:26:40.123\"}\n"
        );
    }

    #[test]
    fn row_keys_equal_table_columns() {
        for event in one_of_each() {
            let table = table_of(&event);
            let ddl = crate::clickhouse::schema::MIGRATIONS
                .iter()
                .find(|m| {
                    m.sql
                        .contains(&format!("CREATE TABLE IF NOT EXISTS {table}\n"))
                })
                .unwrap_or_else(|| panic!("no migration creates table {table}"))
                .sql;
            let mut line = Vec::new();
            write_json_line(&event, &mut line).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
            let keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
            let mut cols = insert_columns(ddl);
            let mut sorted_keys = keys.clone();
            sorted_keys.sort();
            cols.sort();
            assert_eq!(
                sorted_keys, cols,
                "row keys of table {table} differ from its sql/ columns"
            );
        }
    }
}
