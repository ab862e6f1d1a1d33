//! The domain events that flow from readers to the writer: one variant per kind of thing that
//! happens in a room, each with the message's ids and time.
//!
//! Owns: the `Event` type. Must not touch: protobuf, serde, I/O. Conversion from protobuf lives
//! in `tiktok::convert`, conversion to table rows in `clickhouse::row`.

/// Identity and time of one TikTok message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub room_id: u64,
    pub msg_id: u64,
    /// Milliseconds since the Unix epoch (UTC), normalised by `tiktok::convert`.
    pub time_ms: i64,
}

/// The user behind an event, with the flags analysts ask for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRef {
    pub id: u64,
    /// The @handle, without `@`.
    pub unique_id: String,
    pub nickname: String,
    pub is_moderator: bool,
    pub is_subscriber: bool,
    /// Follows the host (or is a friend).
    pub is_follower: bool,
    /// Host and user follow each other.
    pub is_friend: bool,
    pub gifter_level: u32,
    pub fan_club_level: u32,
    pub is_top_gifter: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub meta: Meta,
    pub user: UserRef,
    pub content: String,
    pub language: String,
    /// The mentioned user, 0 when none.
    pub mention_user_id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gift {
    pub meta: Meta,
    pub user: UserRef,
    pub gift_id: u64,
    pub gift_name: String,
    /// 1 = streakable (combo) gift.
    pub gift_type: i32,
    /// Price of one unit in diamonds.
    pub diamond_count: u32,
    pub repeat_count: u32,
    pub repeat_end: bool,
    pub combo_count: u32,
    pub group_id: u64,
    /// Receiver when not the host (multi-guest, battles); 0 otherwise.
    pub to_user_id: u64,
    /// The message that closes its streak (or a one-shot gift): the only one to count.
    pub is_final: bool,
    /// `diamond_count × repeat_count` on final messages, 0 on streak updates.
    pub diamonds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Like {
    pub meta: Meta,
    pub user: UserRef,
    pub count: u32,
    /// The room's running like total.
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub meta: Meta,
    pub user: UserRef,
    /// 1 joined, 3 subscribed, others unexplained.
    pub action: i32,
    /// Viewer count at that moment.
    pub member_count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialKind {
    Follow,
    Share,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Social {
    pub meta: Meta,
    pub user: UserRef,
    pub kind: SocialKind,
    pub action: i64,
    pub share_type: i64,
    pub share_target: String,
    pub share_count: u32,
    pub follow_count: u64,
    /// The display template key the kind was decided from.
    pub display_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerCount {
    pub meta: Meta,
    /// Current viewers.
    pub viewers: u64,
    /// Cumulative viewers of the stream.
    pub total_user: u64,
    pub popularity: u64,
    /// Top viewers as (user id, score), best first.
    pub top_viewers: Vec<(u64, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlAction {
    Paused,
    Unpaused,
    /// Ended by the host.
    Ended,
    /// Ended by TikTok.
    Suspended,
    Unknown(i32),
}

impl ControlAction {
    pub fn from_code(code: i32) -> ControlAction {
        match code {
            1 => ControlAction::Paused,
            2 => ControlAction::Unpaused,
            3 => ControlAction::Ended,
            4 => ControlAction::Suspended,
            other => ControlAction::Unknown(other),
        }
    }
    pub fn code(self) -> i32 {
        match self {
            ControlAction::Paused => 1,
            ControlAction::Unpaused => 2,
            ControlAction::Ended => 3,
            ControlAction::Suspended => 4,
            ControlAction::Unknown(c) => c,
        }
    }
    /// The stream is over (PROTOCOL.md §4.9).
    pub fn ends_stream(self) -> bool {
        matches!(self, ControlAction::Ended | ControlAction::Suspended)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    pub meta: Meta,
    pub action: ControlAction,
}

/// A message kept as received: its method has no typed table, or it failed to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    pub meta: Meta,
    pub method: String,
    pub payload: Vec<u8>,
    /// Why decoding failed; `None` for a message that simply has no typed table.
    pub error: Option<String>,
}

/// One websocket connection to a room, as the reader saw it. Written when the socket opens
/// (`ended_ms` `None`, reason `open`) and again when it ends; the later row replaces the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `room_id` and `time_ms` = when this row was made; `msg_id` is 0 (not a TikTok message).
    pub meta: Meta,
    /// The TikTok handle read.
    pub host: String,
    pub connected_ms: i64,
    pub ended_ms: Option<i64>,
    /// `open`, or why it ended: stream_ended, server_close, closed, error, frame_silence, …
    pub end_reason: &'static str,
    pub frames: u64,
    /// Messages handed to the writer (new ones only, first batch of the sign server included).
    pub messages: u64,
    pub bytes: u64,
}

/// A room as a lookup or `room/info` described it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSnapshot {
    /// `room_id` and `time_ms` = when it was looked up; `msg_id` is 0 (not a TikTok message).
    pub meta: Meta,
    pub host: String,
    /// Where the facts come from: `html`, `api_live` or `room_info`.
    pub source: &'static str,
    /// 2 live, 3 paused, 4 ended, 0 unknown.
    pub status: i32,
    pub title: String,
    pub viewers: u64,
    pub likes: u64,
    pub total_viewers: u64,
}

/// Everything a reader hands to the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Chat(Chat),
    Gift(Gift),
    Like(Like),
    Member(Member),
    Social(Social),
    ViewerCount(ViewerCount),
    Control(Control),
    Raw(Raw),
    Session(Session),
    Room(RoomSnapshot),
}

impl Event {
    pub fn meta(&self) -> &Meta {
        match self {
            Event::Chat(e) => &e.meta,
            Event::Gift(e) => &e.meta,
            Event::Like(e) => &e.meta,
            Event::Member(e) => &e.meta,
            Event::Social(e) => &e.meta,
            Event::ViewerCount(e) => &e.meta,
            Event::Control(e) => &e.meta,
            Event::Raw(e) => &e.meta,
            Event::Session(e) => &e.meta,
            Event::Room(e) => &e.meta,
        }
    }

    /// A short, bounded name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Chat(_) => "chat",
            Event::Gift(_) => "gift",
            Event::Like(_) => "like",
            Event::Member(_) => "member",
            Event::Social(_) => "social",
            Event::ViewerCount(_) => "viewer_count",
            Event::Control(_) => "control",
            Event::Raw(_) => "raw",
            Event::Session(_) => "session",
            Event::Room(_) => "room",
        }
    }
}
