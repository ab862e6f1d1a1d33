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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
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
    /// Profile, for the `users` dimension.
    pub profile: Profile,
}

/// What a message tells about a user beyond the per-event flags.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Profile {
    pub sec_uid: String,
    pub avatar_url: String,
    pub follower_count: u64,
    pub following_count: u64,
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    pub meta: Meta,
    pub user: UserRef,
    pub content: String,
    pub language: String,
    /// The mentioned user, 0 when none.
    pub mention_user_id: u64,
    /// Every mentioned user, in order, without repeats.
    pub mention_user_ids: Vec<u64>,
    /// Emotes placed in the text, by position.
    pub emotes: Vec<ChatEmote>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatEmote {
    /// Position in the text.
    pub index: i32,
    pub emote_id: String,
}

/// A sticker or emote sent on its own (subscribers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmoteChat {
    pub meta: Meta,
    pub user: UserRef,
    pub emote_ids: Vec<String>,
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
    /// Top viewers, best first.
    pub top_viewers: Vec<TopViewer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopViewer {
    pub user: UserRef,
    pub score: i64,
    pub rank: i64,
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

/// A subscription (`WebcastSubNotifyMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub meta: Meta,
    pub user: UserRef,
    pub sub_month: u32,
    pub subscribe_type: i32,
    pub old_subscribe_status: i32,
    pub subscribing_status: i32,
    pub message_type: i32,
    pub is_send: bool,
    pub is_custom: bool,
    pub gift_source: i32,
    pub package_id: String,
}

/// A viewer's question to the host (Q&A).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub meta: Meta,
    pub user: UserRef,
    pub question_id: u64,
    pub content: String,
    pub answer_status: i32,
}

/// A treasure box (envelope) dropped into the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub meta: Meta,
    pub envelope_id: String,
    /// 19 = super fan box.
    pub business_type: i32,
    pub sender_id: u64,
    pub sender_name: String,
    pub diamond_count: u32,
    pub people_count: u32,
    /// When it can be opened, ms since the epoch (0 unknown).
    pub unpack_at_ms: i64,
    pub display: i32,
    /// A super fan box (PROTOCOL.md §5.1 derived events).
    pub is_super_fan_box: bool,
}

/// One option of a poll with its votes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOption {
    pub index: i32,
    pub text: String,
    pub votes: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub meta: Meta,
    pub poll_id: u64,
    /// 0 start, 1 end, 2 votes update (as captured).
    pub message_type: i64,
    pub kind: i32,
    pub title: String,
    pub operator: UserRef,
    pub options: Vec<PollOption>,
    pub end_type: i32,
}

/// One sub-goal of a stream goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubGoal {
    pub id: u64,
    pub kind: i32,
    pub progress: i64,
    pub target: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    pub meta: Meta,
    pub goal_id: u64,
    pub description: String,
    pub status: i32,
    pub contributor_id: u64,
    pub contributor_unique_id: String,
    pub contribute_count: i64,
    pub contribute_score: i64,
    pub sub_goals: Vec<SubGoal>,
}

/// The room's place in one TikTok ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankEntry {
    pub rank_type: i32,
    pub own_rank: i64,
    pub score: i64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankUpdate {
    pub meta: Meta,
    pub group_type: i32,
    pub op_type: i32,
    pub priority: i64,
    pub ranks: Vec<RankEntry>,
}

/// A host (or team member) taking part in a battle, with their result when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BattleHost {
    pub user_id: u64,
    pub unique_id: String,
    pub nickname: String,
    pub team_id: u64,
    /// -1 unknown, else the v3 `BattleResultResult` (0 win, 1 lose, 2 draw).
    pub result: i32,
    pub score: i64,
}

/// A battle's state change (`WebcastLinkMicBattle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Battle {
    pub meta: Meta,
    pub battle_id: u64,
    pub action: i32,
    pub status: i32,
    pub battle_type: i32,
    pub channel_id: u64,
    pub start_time_ms: i64,
    pub duration_s: i32,
    pub hosts: Vec<BattleHost>,
}

/// A gifter's contribution to one host's battle score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmyMember {
    pub host_id: u64,
    pub user_id: u64,
    pub nickname: String,
    pub score: i64,
}

/// Battle scores (`WebcastLinkMicArmies`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BattleArmies {
    pub meta: Meta,
    pub battle_id: u64,
    pub trigger_reason: i32,
    /// The gift that caused this update, if any.
    pub from_user_id: u64,
    pub gift_id: u64,
    pub gift_count: i32,
    pub repeat_count: i32,
    pub total_diamond_count: i32,
    /// (host id, host score), in host id order.
    pub host_scores: Vec<(u64, i64)>,
    pub members: Vec<ArmyMember>,
}

/// A message pinned above the chat, or unpinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPin {
    pub meta: Meta,
    pub operator: UserRef,
    /// 1 pin, 2 unpin (v3 `PinMessageActionType`).
    pub action: i32,
    pub pinned_msg_id: u64,
    pub pinned_method: String,
    /// The pinned message's author and text, when it is a chat message.
    pub pinned_user: UserRef,
    pub pinned_content: String,
    pub pin_time_ms: i64,
    pub display_duration_s: i64,
}

/// Chat messages (and users) a moderator removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImDelete {
    pub meta: Meta,
    pub msg_ids: Vec<u64>,
    pub user_ids: Vec<u64>,
}

/// The host's intro text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveIntro {
    pub meta: Meta,
    pub user: UserRef,
    pub intro_id: u64,
    pub content: String,
    pub language: String,
}

/// Room-level text: system and room messages, captions, notices, bottom and notify texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomText {
    pub meta: Meta,
    /// Short name of the source message: `room`, `system`, `caption`, `notice`, …
    pub kind: &'static str,
    pub content: String,
    pub language: String,
    /// The user the text is about, when it names one.
    pub user: UserRef,
    /// The message's own type/scene code, when it has one.
    pub code: i64,
}

/// A decoded value of a message that has no table of its own (see `Other`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    UInt(u64),
    Bool(bool),
    Text(String),
    List(Vec<Value>),
    Object(Vec<(&'static str, Value)>),
}

/// A decoded message of a method without a table of its own: kept typed as named fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    pub meta: Meta,
    pub method: String,
    /// The user the message is about, if any.
    pub user: UserRef,
    /// The message's display template key (`common.display_text.key`).
    pub display_key: String,
    pub fields: Vec<(&'static str, Value)>,
}

/// A user seen in a message: feeds the `users` dimension (latest profile per user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSeen {
    pub meta: Meta,
    pub user: UserRef,
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
    EmoteChat(EmoteChat),
    Gift(Gift),
    Like(Like),
    Member(Member),
    Social(Social),
    ViewerCount(ViewerCount),
    Control(Control),
    Subscription(Subscription),
    Question(Question),
    Envelope(Envelope),
    Poll(Poll),
    Goal(Goal),
    RankUpdate(RankUpdate),
    Battle(Battle),
    BattleArmies(BattleArmies),
    /// Boxed: with two users it is the largest variant, and a rare one; unboxed it made every
    /// event (and every slot of the channel) 392 bytes instead of 272.
    RoomPin(Box<RoomPin>),
    ImDelete(ImDelete),
    LiveIntro(LiveIntro),
    RoomText(RoomText),
    Other(Other),
    User(UserSeen),
    Raw(Raw),
    Session(Session),
    Room(RoomSnapshot),
}

/// Calls `$body` with the inner event of every variant bound to `$e`.
macro_rules! each_variant {
    ($event:expr, $e:ident => $body:expr) => {
        match $event {
            Event::Chat($e) => $body,
            Event::EmoteChat($e) => $body,
            Event::Gift($e) => $body,
            Event::Like($e) => $body,
            Event::Member($e) => $body,
            Event::Social($e) => $body,
            Event::ViewerCount($e) => $body,
            Event::Control($e) => $body,
            Event::Subscription($e) => $body,
            Event::Question($e) => $body,
            Event::Envelope($e) => $body,
            Event::Poll($e) => $body,
            Event::Goal($e) => $body,
            Event::RankUpdate($e) => $body,
            Event::Battle($e) => $body,
            Event::BattleArmies($e) => $body,
            Event::RoomPin($e) => $body,
            Event::ImDelete($e) => $body,
            Event::LiveIntro($e) => $body,
            Event::RoomText($e) => $body,
            Event::Other($e) => $body,
            Event::User($e) => $body,
            Event::Raw($e) => $body,
            Event::Session($e) => $body,
            Event::Room($e) => $body,
        }
    };
}

impl Event {
    pub fn meta(&self) -> &Meta {
        each_variant!(self, e => &e.meta)
    }

    /// A short, bounded name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Chat(_) => "chat",
            Event::EmoteChat(_) => "emote_chat",
            Event::Gift(_) => "gift",
            Event::Like(_) => "like",
            Event::Member(_) => "member",
            Event::Social(_) => "social",
            Event::ViewerCount(_) => "viewer_count",
            Event::Control(_) => "control",
            Event::Subscription(_) => "subscription",
            Event::Question(_) => "question",
            Event::Envelope(_) => "envelope",
            Event::Poll(_) => "poll",
            Event::Goal(_) => "goal",
            Event::RankUpdate(_) => "rank_update",
            Event::Battle(_) => "battle",
            Event::BattleArmies(_) => "battle_armies",
            Event::RoomPin(_) => "room_pin",
            Event::ImDelete(_) => "im_delete",
            Event::LiveIntro(_) => "live_intro",
            Event::RoomText(_) => "room_text",
            Event::Other(_) => "other",
            Event::User(_) => "user",
            Event::Raw(_) => "raw",
            Event::Session(_) => "session",
            Event::Room(_) => "room",
        }
    }

    /// The users this event shows (id ≠ 0), for the `users` dimension.
    pub fn users(&self) -> Vec<&UserRef> {
        let all: Vec<&UserRef> = match self {
            Event::Chat(e) => vec![&e.user],
            Event::EmoteChat(e) => vec![&e.user],
            Event::Gift(e) => vec![&e.user],
            Event::Like(e) => vec![&e.user],
            Event::Member(e) => vec![&e.user],
            Event::Social(e) => vec![&e.user],
            Event::ViewerCount(e) => e.top_viewers.iter().map(|t| &t.user).collect(),
            Event::Subscription(e) => vec![&e.user],
            Event::Question(e) => vec![&e.user],
            Event::Poll(e) => vec![&e.operator],
            Event::RoomPin(e) => vec![&e.operator, &e.pinned_user],
            Event::LiveIntro(e) => vec![&e.user],
            Event::RoomText(e) => vec![&e.user],
            Event::Other(e) => vec![&e.user],
            Event::Control(_)
            | Event::Envelope(_)
            | Event::Goal(_)
            | Event::RankUpdate(_)
            | Event::Battle(_)
            | Event::BattleArmies(_)
            | Event::ImDelete(_)
            | Event::User(_)
            | Event::Raw(_)
            | Event::Session(_)
            | Event::Room(_) => vec![],
        };
        all.into_iter().filter(|u| u.id != 0).collect()
    }
}
