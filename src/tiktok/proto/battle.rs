//! Battles and multi-guest (link-mic) messages: battle state and results, per-host armies
//! (gifter contributions), item cards, punishments, tasks, fan tickets and link-mic signalling
//! (PROTOCOL.md §5.1 "Battles / multi-guest", §5.11).
//!
//! Owns: their wire layouts. Must not touch: conversion (see `tiktok::convert`).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::common::CommonMessageData;

/// A battle's lifecycle: started, finished, results, teams.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkMicBattle {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub battle_id: u64,
    #[prost(message, optional, tag = "3")]
    pub battle_settings: Option<BattleSetting>,
    #[prost(int32, tag = "4")]
    pub action: i32,
    #[prost(btree_map = "uint64, message", tag = "5")]
    pub battle_result: BTreeMap<u64, BattleResult>,
    #[prost(message, repeated, tag = "10")]
    pub anchors_info: Vec<BattleUserInfoWrapper>,
    #[prost(message, repeated, tag = "14")]
    pub team_member: Vec<TeamUsersInfo>,
    #[prost(message, repeated, tag = "17")]
    pub team_battle_result: Vec<BattleTeamResult>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BattleSetting {
    #[prost(uint64, tag = "1")]
    pub battle_id: u64,
    #[prost(int64, tag = "2")]
    pub start_time_ms: i64,
    #[prost(int32, tag = "3")]
    pub duration: i32,
    #[prost(uint64, tag = "4")]
    pub channel_id: u64,
    #[prost(int32, tag = "5")]
    pub status: i32,
    #[prost(int32, tag = "8")]
    pub battle_type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BattleResult {
    #[prost(uint64, tag = "1")]
    pub user_id: u64,
    /// 0 win, 1 lose, 2 draw (v3 `BattleResultResult`).
    #[prost(int32, tag = "2")]
    pub result: i32,
    #[prost(int64, tag = "3")]
    pub score: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BattleUserInfoWrapper {
    #[prost(uint64, tag = "1")]
    pub key: u64,
    #[prost(message, optional, tag = "2")]
    pub value: Option<BattleUserInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BattleUserInfo {
    #[prost(message, optional, tag = "1")]
    pub user: Option<BattleBaseUserInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BattleBaseUserInfo {
    #[prost(uint64, tag = "1")]
    pub user_id: u64,
    #[prost(bytes = "bytes", tag = "2")]
    pub nick_name: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub display_id: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TeamUsersInfo {
    #[prost(uint64, tag = "1")]
    pub team_id: u64,
    #[prost(uint64, repeated, tag = "2")]
    pub user_id: Vec<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BattleTeamResult {
    #[prost(uint64, tag = "1")]
    pub team_id: u64,
    #[prost(int32, tag = "3")]
    pub result: i32,
    #[prost(int64, tag = "4")]
    pub total_score: i64,
}

/// Battle scores: per host, the points and the gifters who earned them.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkMicArmies {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub battle_id: u64,
    #[prost(btree_map = "uint64, message", tag = "3")]
    pub armies: BTreeMap<u64, BattleUserArmies>,
    #[prost(int32, tag = "7")]
    pub trigger_reason: i32,
    #[prost(uint64, tag = "8")]
    pub from_user_id: u64,
    #[prost(uint64, tag = "9")]
    pub gift_id: u64,
    #[prost(int32, tag = "10")]
    pub gift_count: i32,
    #[prost(int32, tag = "12")]
    pub total_diamond_count: i32,
    #[prost(int32, tag = "13")]
    pub repeat_count: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BattleUserArmies {
    #[prost(message, repeated, tag = "1")]
    pub user_armies: Vec<BattleUserArmy>,
    #[prost(int64, tag = "2")]
    pub hostscore: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BattleUserArmy {
    #[prost(uint64, tag = "1")]
    pub user_id: u64,
    #[prost(int64, tag = "2")]
    pub score: i64,
    #[prost(bytes = "bytes", tag = "3")]
    pub nickname: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkMicBattleItemCard {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub battle_id: u64,
    #[prost(int32, tag = "3")]
    pub msg_type: i32,
    #[prost(int32, tag = "16")]
    pub award_reason: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkMicBattlePunishFinish {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub channel_id: u64,
    #[prost(uint64, tag = "3")]
    pub op_uid: u64,
    #[prost(int32, tag = "4")]
    pub reason: i32,
    #[prost(uint64, tag = "5")]
    pub battle_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkmicBattleTaskMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub task_message_type: i32,
    #[prost(uint64, tag = "20")]
    pub battle_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkMicFanTicketMethod {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub fan_ticket_room_notice: Option<FanTicketRoomNoticeContent>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FanTicketRoomNoticeContent {
    #[prost(message, repeated, tag = "1")]
    pub user_fan_ticket: Vec<UserFanTicket>,
    #[prost(int64, tag = "2")]
    pub total_linkmic_fan_ticket: i64,
    #[prost(uint64, tag = "3")]
    pub match_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UserFanTicket {
    #[prost(uint64, tag = "1")]
    pub user_id: u64,
    #[prost(int64, tag = "2")]
    pub fan_ticket: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkMicMethod {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub message_type: i32,
    #[prost(uint64, tag = "5")]
    pub user_id: u64,
    #[prost(int64, tag = "6")]
    pub fan_ticket: i64,
    #[prost(int64, tag = "7")]
    pub total_linkmic_fan_ticket: i64,
    #[prost(uint64, tag = "8")]
    pub channel_id: u64,
    #[prost(uint64, tag = "21")]
    pub to_user_id: u64,
    #[prost(uint64, tag = "24")]
    pub from_user_id: u64,
    #[prost(uint64, tag = "28")]
    pub from_room_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkMicLayoutStateMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub channel_id: u64,
    #[prost(int32, tag = "3")]
    pub scene: i32,
    #[prost(int64, tag = "4")]
    pub version: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkStateMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(uint64, tag = "2")]
    pub channel_id: u64,
    #[prost(int32, tag = "3")]
    pub scene: i32,
    #[prost(int64, tag = "4")]
    pub version: i64,
    #[prost(int32, tag = "9")]
    pub state_type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub message_type: i32,
    #[prost(uint64, tag = "3")]
    pub linker_id: u64,
    #[prost(int32, tag = "4")]
    pub scene: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastLinkLayerMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub message_type: i32,
    #[prost(uint64, tag = "3")]
    pub channel_id: u64,
    #[prost(int32, tag = "4")]
    pub scene: i32,
    #[prost(bytes = "bytes", tag = "5")]
    pub source: Bytes,
    #[prost(uint64, tag = "7")]
    pub rtc_room_id: u64,
}
