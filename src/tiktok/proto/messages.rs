//! The core audience messages (PROTOCOL.md §5.3–5.10): chat, emote chat, gift, like, member,
//! social, room user seq and control.
//!
//! Owns: their wire layouts. Must not touch: conversion (see `tiktok::convert`).

use bytes::Bytes;

use super::common::{CommonMessageData, EmoteModel, User, UserIdentity};

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastChatMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(bytes = "bytes", tag = "3")]
    pub content: Bytes,
    #[prost(message, optional, tag = "12")]
    pub at_user: Option<User>,
    #[prost(message, repeated, tag = "13")]
    pub emotes: Vec<EmoteWithIndex>,
    #[prost(bytes = "bytes", tag = "14")]
    pub content_language: Bytes,
    #[prost(message, optional, tag = "18")]
    pub user_identity: Option<UserIdentity>,
    #[prost(uint64, repeated, tag = "27")]
    pub mention_user_list: Vec<u64>,
}

/// An emote placed in a chat text (`index` = position in the text).
#[derive(Clone, PartialEq, prost::Message)]
pub struct EmoteWithIndex {
    #[prost(int32, tag = "1")]
    pub index: i32,
    #[prost(message, optional, tag = "2")]
    pub emote: Option<EmoteModel>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastEmoteChatMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(message, repeated, tag = "3")]
    pub emote_list: Vec<EmoteModel>,
    #[prost(message, optional, tag = "5")]
    pub user_identity: Option<UserIdentity>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastGiftMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub gift_id: u64,
    #[prost(int32, tag = "5")]
    pub repeat_count: i32,
    #[prost(int32, tag = "6")]
    pub combo_count: i32,
    #[prost(message, optional, tag = "7")]
    pub user: Option<User>,
    #[prost(message, optional, tag = "8")]
    pub to_user: Option<User>,
    #[prost(int32, tag = "9")]
    pub repeat_end: i32,
    #[prost(uint64, tag = "11")]
    pub group_id: u64,
    #[prost(message, optional, tag = "15")]
    pub gift: Option<Gift>,
    #[prost(message, optional, tag = "32")]
    pub user_identity: Option<UserIdentity>,
    #[prost(uint64, tag = "46")]
    pub to_member_id_int: u64,
}

/// Static gift data (§5.5 `Gift`). `type == 1` marks a streakable gift.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Gift {
    #[prost(uint64, tag = "5")]
    pub id: u64,
    #[prost(int32, tag = "11")]
    pub r#type: i32,
    #[prost(int32, tag = "12")]
    pub diamond_count: i32,
    #[prost(bytes = "bytes", tag = "16")]
    pub name: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLikeMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub count: i32,
    #[prost(int64, tag = "3")]
    pub total: i64,
    #[prost(message, optional, tag = "5")]
    pub user: Option<User>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastMemberMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(int32, tag = "3")]
    pub member_count: i32,
    #[prost(int32, tag = "10")]
    pub action: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastSocialMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(int64, tag = "3")]
    pub share_type: i64,
    #[prost(int64, tag = "4")]
    pub action: i64,
    #[prost(bytes = "bytes", tag = "5")]
    pub share_target: Bytes,
    #[prost(int64, tag = "6")]
    pub follow_count: i64,
    #[prost(int32, tag = "8")]
    pub share_count: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastRoomUserSeqMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, repeated, tag = "2")]
    pub ranks: Vec<Contributor>,
    #[prost(int64, tag = "3")]
    pub total: i64,
    #[prost(int64, tag = "6")]
    pub popularity: i64,
    #[prost(int64, tag = "7")]
    pub total_user: i64,
}

/// A top viewer / gifter entry of `WebcastRoomUserSeqMessage`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Contributor {
    #[prost(int64, tag = "1")]
    pub score: i64,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(int64, tag = "3")]
    pub rank: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastControlMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    /// 1 paused, 2 unpaused, 3 ended by host, 4 suspended by TikTok.
    #[prost(int32, tag = "2")]
    pub action: i32,
    #[prost(bytes = "bytes", tag = "3")]
    pub tips: Bytes,
}
