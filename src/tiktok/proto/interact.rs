//! Audience engagement messages: questions, subscriptions, treasure boxes (envelopes), polls,
//! goals, rankings and the host's pinned cards (PROTOCOL.md §5.1, §5.11).
//!
//! Owns: their wire layouts. Must not touch: conversion (see `tiktok::convert`).

use bytes::Bytes;

use super::common::{CommonMessageData, Text, User};

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastQuestionNewMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub data: Option<Question>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Question {
    #[prost(uint64, tag = "1")]
    pub question_id: u64,
    #[prost(bytes = "bytes", tag = "2")]
    pub content: Bytes,
    #[prost(int32, tag = "3")]
    pub answer_status: i32,
    #[prost(int64, tag = "4")]
    pub create_time: i64,
    #[prost(message, optional, tag = "5")]
    pub user: Option<User>,
}

/// A subscription (new, renewed or gifted).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastSubNotifyMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(int32, tag = "3")]
    pub exhibition_type: i32,
    #[prost(int64, tag = "4")]
    pub sub_month: i64,
    #[prost(int32, tag = "5")]
    pub subscribe_type: i32,
    #[prost(int32, tag = "6")]
    pub old_subscribe_status: i32,
    #[prost(int32, tag = "7")]
    pub message_type: i32,
    #[prost(int32, tag = "8")]
    pub subscribing_status: i32,
    #[prost(bool, tag = "9")]
    pub is_send: bool,
    #[prost(bool, tag = "10")]
    pub is_custom: bool,
    #[prost(int32, tag = "11")]
    pub gift_source: i32,
    #[prost(bytes = "bytes", tag = "14")]
    pub package_id: Bytes,
}

/// A treasure box (red envelope) dropped into the room.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastEnvelopeMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "2")]
    pub envelope_info: Option<EnvelopeInfo>,
    #[prost(int32, tag = "3")]
    pub display: i32,
}

/// `MessageRedEnvelopInfo`: its ids travel as strings.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EnvelopeInfo {
    #[prost(bytes = "bytes", tag = "1")]
    pub envelope_id: Bytes,
    /// 19 = super fan box.
    #[prost(int32, tag = "2")]
    pub business_type: i32,
    #[prost(bytes = "bytes", tag = "4")]
    pub send_user_name: Bytes,
    #[prost(int32, tag = "5")]
    pub diamond_count: i32,
    #[prost(int32, tag = "6")]
    pub people_count: i32,
    /// Unix seconds at which it can be opened.
    #[prost(int32, tag = "7")]
    pub unpack_at: i32,
    #[prost(bytes = "bytes", tag = "8")]
    pub send_user_id: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastPollMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    /// 0 start, 1 end, 2 vote update (as far as the captures show).
    #[prost(int64, tag = "2")]
    pub message_type: i64,
    #[prost(uint64, tag = "3")]
    pub poll_id: u64,
    #[prost(message, optional, tag = "4")]
    pub start_content: Option<PollStartContent>,
    #[prost(message, optional, tag = "5")]
    pub end_content: Option<PollEndContent>,
    #[prost(message, optional, tag = "6")]
    pub update_votes_content: Option<PollUpdateVotesContent>,
    #[prost(int32, tag = "7")]
    pub poll_kind: i32,
    #[prost(message, optional, tag = "8")]
    pub poll_basic_info: Option<PollBasicInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PollStartContent {
    #[prost(int64, tag = "1")]
    pub start_time: i64,
    #[prost(int64, tag = "2")]
    pub end_time: i64,
    #[prost(message, repeated, tag = "3")]
    pub option_list: Vec<PollOptionInfo>,
    #[prost(bytes = "bytes", tag = "4")]
    pub title: Bytes,
    #[prost(message, optional, tag = "5")]
    pub operator: Option<User>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PollEndContent {
    #[prost(int32, tag = "1")]
    pub end_type: i32,
    #[prost(message, repeated, tag = "2")]
    pub option_list: Vec<PollOptionInfo>,
    #[prost(message, optional, tag = "3")]
    pub operator: Option<User>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PollUpdateVotesContent {
    #[prost(message, repeated, tag = "2")]
    pub option_list: Vec<PollOptionInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PollOptionInfo {
    #[prost(int64, tag = "1")]
    pub votes: i64,
    #[prost(bytes = "bytes", tag = "2")]
    pub display_content: Bytes,
    #[prost(int32, tag = "3")]
    pub option_idx: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PollBasicInfo {
    #[prost(uint64, tag = "2")]
    pub gift_id: u64,
    #[prost(bytes = "bytes", tag = "3")]
    pub title: Bytes,
    #[prost(int64, tag = "5")]
    pub user_cnt: i64,
}

/// Progress of the host's stream goal.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastGoalUpdateMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, optional, tag = "3")]
    pub goal: Option<LiveStreamGoal>,
    #[prost(uint64, tag = "4")]
    pub contributor_id: u64,
    #[prost(bytes = "bytes", tag = "6")]
    pub contributor_display_id: Bytes,
    #[prost(int64, tag = "9")]
    pub contribute_count: i64,
    #[prost(int64, tag = "10")]
    pub contribute_score: i64,
    #[prost(int32, tag = "16")]
    pub update_source: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LiveStreamGoal {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int32, tag = "2")]
    pub r#type: i32,
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(message, repeated, tag = "4")]
    pub sub_goals: Vec<LiveStreamSubGoal>,
    #[prost(bytes = "bytes", tag = "5")]
    pub description: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LiveStreamSubGoal {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(uint64, tag = "2")]
    pub id: u64,
    #[prost(int64, tag = "3")]
    pub progress: i64,
    #[prost(int64, tag = "4")]
    pub target: i64,
}

/// The room's standing in TikTok's rankings (hourly, weekly, …).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastRankUpdateMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, repeated, tag = "2")]
    pub updates: Vec<RankUpdate>,
    #[prost(int32, tag = "3")]
    pub group_type: i32,
    #[prost(int32, tag = "4")]
    pub op_type: i32,
    #[prost(int64, tag = "5")]
    pub rank_priority: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RankUpdate {
    #[prost(int32, tag = "1")]
    pub rank_type: i32,
    #[prost(int64, tag = "2")]
    pub own_rank: i64,
    #[prost(message, optional, tag = "3")]
    pub default_content: Option<Text>,
    #[prost(int64, tag = "6")]
    pub countdown: i64,
    #[prost(int64, tag = "15")]
    pub current_score: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastRankTextMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub scene: i32,
    #[prost(int64, tag = "3")]
    pub owner_idx_before_update: i64,
    #[prost(int64, tag = "4")]
    pub owner_idx_after_update: i64,
    #[prost(uint64, tag = "7")]
    pub cur_user_id: u64,
    #[prost(message, optional, tag = "9")]
    pub content: Option<Text>,
    #[prost(int32, tag = "10")]
    pub rank_type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastHourlyRankRewardMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(message, repeated, tag = "2")]
    pub winners: Vec<HourlyRankRewardInfo>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HourlyRankRewardInfo {
    #[prost(uint64, tag = "1")]
    pub user_id: u64,
    #[prost(uint64, tag = "2")]
    pub asset_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastSubPinEventMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub action_type: i32,
    #[prost(uint64, tag = "4")]
    pub operator_user_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastViewerPicksUpdateMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
    #[prost(int32, tag = "2")]
    pub update_type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastBoostCardMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<CommonMessageData>,
}
