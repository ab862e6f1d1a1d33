//! Gift-panel, shopping, partnership and game messages (PROTOCOL.md §5.1 "Gifts/goals",
//! "Games/partnership", and `WebcastOecLiveShoppingMessage`).
//!
//! Owns: their wire layouts. Must not touch: conversion (see `tiktok::convert`).

use bytes::Bytes;

use super::common::{CommonMessageData, Text};
use super::room::WebcastRoomNotifyMessage;

/// A big gift sent somewhere on TikTok, announced in other rooms.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastGiftBroadcastMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub from_user_id: u64,
    #[prost(message, optional, tag = "4")]
    pub notify: Option<WebcastRoomNotifyMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastGiftDynamicRestrictionMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastGiftPanelUpdateMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastGiftPromptMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(bytes = "bytes", tag = "2")]
    pub title: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub body: Bytes,
}

/// TikTok Shop: a product shown, pinned or changed in the live.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastOecLiveShoppingMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub action_type: i32,
    #[prost(int32, tag = "3")]
    pub live_product_number: i32,
    #[prost(message, optional, tag = "4")]
    pub pop_product: Option<PopProduct>,
    #[prost(int32, tag = "12")]
    pub card_type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PopProduct {
    #[prost(bytes = "bytes", tag = "1")]
    pub title: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub price: Bytes,
    #[prost(uint64, tag = "6")]
    pub product_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastPartnershipDropsUpdateMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub change_mode: i32,
    #[prost(bytes = "bytes", tag = "3")]
    pub drops_id: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub task_id: Bytes,
    #[prost(bytes = "bytes", tag = "5")]
    pub event_id: Bytes,
    #[prost(uint64, tag = "6")]
    pub anchor_uid: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastPartnershipGameOfflineMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastPartnershipPunishMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastGameRankNotifyMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub msg_type: i32,
    #[prost(message, optional, tag = "3")]
    pub notify_text: Option<Text>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLiveGameIntroMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub content: Option<Text>,
    #[prost(bool, tag = "3")]
    pub has_rank_info: bool,
}
