//! Room-level messages (PROTOCOL.md §5.1 core list, §5.11): system and room texts, captions,
//! the host's intro, pins, deleted messages, banners, notices, moderation and access notices.
//!
//! Owns: their wire layouts. Must not touch: conversion (see `tiktok::convert`).

use bytes::Bytes;

use super::common::{CommonMessageData, Text, User};
use super::messages::{
    WebcastChatMessage, WebcastGiftMessage, WebcastLikeMessage, WebcastMemberMessage,
    WebcastSocialMessage,
};

/// `WebcastRoomMessage` (also the body of the legacy `SystemMessage` method).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastRoomMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(bytes = "bytes", tag = "2")]
    pub content: Bytes,
    #[prost(int32, tag = "4")]
    pub source: i32,
    #[prost(bytes = "bytes", tag = "6")]
    pub scene: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastSystemMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(bytes = "bytes", tag = "2")]
    pub message: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLiveIntroMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub id: u64,
    #[prost(int32, tag = "3")]
    pub audit_status: i32,
    #[prost(bytes = "bytes", tag = "4")]
    pub content: Bytes,
    #[prost(message, optional, tag = "5")]
    pub user: Option<User>,
    #[prost(bytes = "bytes", tag = "8")]
    pub content_language: Bytes,
}

/// Live captions (speech to text) of the host.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastCaptionMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int64, tag = "2")]
    pub timestamp_ms: i64,
    #[prost(int64, tag = "3")]
    pub duration_ms: i64,
    #[prost(message, repeated, tag = "4")]
    pub content: Vec<CaptionContent>,
    #[prost(int64, tag = "5")]
    pub sentence_id: i64,
    #[prost(bool, tag = "7")]
    pub definite: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CaptionContent {
    #[prost(bytes = "bytes", tag = "1")]
    pub lang: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub content: Bytes,
}

/// Messages (and users) a moderator removed from the chat.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastImDeleteMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, repeated, tag = "2")]
    pub delete_msg_ids: Vec<u64>,
    #[prost(uint64, repeated, tag = "3")]
    pub delete_user_ids: Vec<u64>,
}

/// A message pinned above the chat (or unpinned); carries a copy of the pinned message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastRoomPinMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub chat_message: Option<WebcastChatMessage>,
    #[prost(message, optional, tag = "3")]
    pub social_message: Option<WebcastSocialMessage>,
    #[prost(message, optional, tag = "4")]
    pub gift_message: Option<WebcastGiftMessage>,
    #[prost(message, optional, tag = "5")]
    pub member_message: Option<WebcastMemberMessage>,
    #[prost(message, optional, tag = "6")]
    pub like_message: Option<WebcastLikeMessage>,
    #[prost(bytes = "bytes", tag = "30")]
    pub method: Bytes,
    #[prost(int64, tag = "31")]
    pub pin_time: i64,
    #[prost(message, optional, tag = "32")]
    pub operator: Option<User>,
    #[prost(int32, tag = "33")]
    pub action: i32,
    #[prost(int64, tag = "34")]
    pub display_duration: i64,
    #[prost(uint64, tag = "35")]
    pub pin_msg_id: u64,
}

/// Only the header is in the schema; the banner itself travels in fields nobody documents.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastInRoomBannerMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastNoticeMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(bytes = "bytes", tag = "2")]
    pub content: Bytes,
    #[prost(int32, tag = "3")]
    pub notice_type: i32,
    #[prost(bytes = "bytes", tag = "12")]
    pub scene: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastToastMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int64, tag = "2")]
    pub display_duration_millisecond: i64,
    #[prost(bytes = "bytes", tag = "4")]
    pub scene: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastGuideMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int64, tag = "2")]
    pub guide_type: i64,
    #[prost(uint64, tag = "3")]
    pub gift_id: u64,
    #[prost(bytes = "bytes", tag = "4")]
    pub description: Bytes,
    #[prost(bytes = "bytes", tag = "7")]
    pub scene: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastBottomMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(bytes = "bytes", tag = "2")]
    pub content: Bytes,
    #[prost(int64, tag = "5")]
    pub duration: i64,
    #[prost(int32, tag = "6")]
    pub biz_type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastCapsuleMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "3")]
    pub desc: Option<Text>,
    #[prost(int32, tag = "6")]
    pub r#type: i32,
    #[prost(bytes = "bytes", tag = "7")]
    pub scene: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastMarqueeAnnouncementMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(bytes = "bytes", tag = "2")]
    pub message_scene: Bytes,
}

/// A moderation warning shown to the host or the audience.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastPerceptionMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "4")]
    pub end_time: i32,
    #[prost(message, optional, tag = "6")]
    pub toast: Option<Text>,
    #[prost(message, optional, tag = "8")]
    pub float_text: Option<Text>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastSpeakerMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastRoomVerifyMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub action: i32,
    #[prost(bytes = "bytes", tag = "3")]
    pub content: Bytes,
    #[prost(int64, tag = "4")]
    pub notice_type: i64,
    #[prost(bool, tag = "5")]
    pub close_room: bool,
}

/// A room-wide notification (also nested in gift broadcasts and hourly rank rewards).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastRoomNotifyMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int64, tag = "3")]
    pub notify_type: i64,
    #[prost(bytes = "bytes", tag = "4")]
    pub content: Bytes,
    #[prost(message, optional, tag = "5")]
    pub user: Option<User>,
    #[prost(uint64, tag = "10")]
    pub from_user_id: u64,
    #[prost(uint64, tag = "12")]
    pub to_anchor_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastMsgDetectMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub d_type: i32,
    #[prost(int32, tag = "5")]
    pub trigger_by: i32,
    #[prost(bytes = "bytes", tag = "6")]
    pub from_region: Bytes,
}

/// A viewer who is not logged in entered.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastUnauthorizedMemberMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub action: i32,
    #[prost(bytes = "bytes", tag = "4")]
    pub nick_name: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastAccessControlMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastAccessRecallMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub status: i32,
    #[prost(int64, tag = "3")]
    pub duration: i64,
    #[prost(int64, tag = "4")]
    pub end_time: i64,
    #[prost(bytes = "bytes", tag = "5")]
    pub scene: Bytes,
}

/// A highlighted banner message (super fan joins, level-ups, …).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastBarrageMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "3")]
    pub msg_type: i32,
    #[prost(message, optional, tag = "5")]
    pub content: Option<Text>,
    #[prost(int64, tag = "6")]
    pub duration: i64,
    #[prost(bytes = "bytes", tag = "11")]
    pub scene: Bytes,
    #[prost(message, optional, tag = "24")]
    pub common_barrage_content: Option<Text>,
    #[prost(message, optional, tag = "50")]
    pub user: Option<User>,
}
