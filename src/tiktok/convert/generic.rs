//! Conversions of the methods without a table of their own: each picks the fields worth
//! keeping into `Event::Other`, stored in the `events` table as compact JSON. Zero and empty
//! values are left out, so the JSON holds only what the message said.
//!
//! Pure, like its parent `convert`. Must not touch: I/O, serde, metrics.

use bytes::Bytes;

use super::{render, text, user_ref, Fields, HasCommon};
use crate::event::{UserRef, Value};
use crate::tiktok::proto as pb;

/// Collects the non-default fields of one message.
#[derive(Default)]
struct Builder(Vec<(&'static str, Value)>);

impl Builder {
    fn int(mut self, key: &'static str, v: impl Into<i64>) -> Self {
        let v = v.into();
        if v != 0 {
            self.0.push((key, Value::Int(v)));
        }
        self
    }
    fn id(mut self, key: &'static str, v: u64) -> Self {
        if v != 0 {
            self.0.push((key, Value::UInt(v)));
        }
        self
    }
    fn flag(mut self, key: &'static str, v: bool) -> Self {
        if v {
            self.0.push((key, Value::Bool(true)));
        }
        self
    }
    fn text(mut self, key: &'static str, v: String) -> Self {
        if !v.is_empty() {
            self.0.push((key, Value::Text(v)));
        }
        self
    }
    fn bytes(self, key: &'static str, v: Bytes) -> Self {
        self.text(key, text(&v))
    }
    fn display(self, key: &'static str, v: Option<&pb::Text>) -> Self {
        self.text(key, v.map(render).unwrap_or_default())
    }
    fn list(mut self, key: &'static str, v: Vec<Value>) -> Self {
        if !v.is_empty() {
            self.0.push((key, Value::List(v)));
        }
        self
    }
    fn done(self) -> Fields {
        (UserRef::default(), self.0)
    }
    fn with_user(self, user: UserRef) -> Fields {
        (user, self.0)
    }
}

/// Messages whose schema holds nothing but the header.
pub(super) fn common_only<M: HasCommon>(_: M) -> Fields {
    Builder::default().done()
}

pub(super) fn barrage(m: pb::WebcastBarrageMessage) -> Fields {
    let key = |t: &Option<pb::Text>| t.as_ref().map(|t| text(&t.key)).unwrap_or_default();
    Builder::default()
        .int("msg_type", m.msg_type)
        .text("content_key", key(&m.content))
        .display("content", m.content.as_ref())
        .text("common_content_key", key(&m.common_barrage_content))
        .display("common_content", m.common_barrage_content.as_ref())
        .int("duration", m.duration)
        .bytes("scene", m.scene)
        .with_user(user_ref(m.user.as_ref(), None))
}

pub(super) fn toast(m: pb::WebcastToastMessage) -> Fields {
    Builder::default()
        .int("display_duration_ms", m.display_duration_millisecond)
        .bytes("scene", m.scene)
        .done()
}

pub(super) fn guide(m: pb::WebcastGuideMessage) -> Fields {
    Builder::default()
        .int("guide_type", m.guide_type)
        .id("gift_id", m.gift_id)
        .bytes("description", m.description)
        .bytes("scene", m.scene)
        .done()
}

pub(super) fn capsule(m: pb::WebcastCapsuleMessage) -> Fields {
    Builder::default()
        .display("desc", m.desc.as_ref())
        .int("type", m.r#type)
        .bytes("scene", m.scene)
        .done()
}

pub(super) fn marquee(m: pb::WebcastMarqueeAnnouncementMessage) -> Fields {
    Builder::default()
        .bytes("message_scene", m.message_scene)
        .done()
}

pub(super) fn perception(m: pb::WebcastPerceptionMessage) -> Fields {
    Builder::default()
        .int("end_time", m.end_time)
        .display("toast", m.toast.as_ref())
        .display("float_text", m.float_text.as_ref())
        .done()
}

pub(super) fn room_verify(m: pb::WebcastRoomVerifyMessage) -> Fields {
    Builder::default()
        .int("action", m.action)
        .bytes("content", m.content)
        .int("notice_type", m.notice_type)
        .flag("close_room", m.close_room)
        .done()
}

pub(super) fn msg_detect(m: pb::WebcastMsgDetectMessage) -> Fields {
    Builder::default()
        .int("d_type", m.d_type)
        .int("trigger_by", m.trigger_by)
        .bytes("from_region", m.from_region)
        .done()
}

pub(super) fn unauthorized_member(m: pb::WebcastUnauthorizedMemberMessage) -> Fields {
    Builder::default()
        .int("action", m.action)
        .bytes("nick_name", m.nick_name)
        .done()
}

pub(super) fn access_recall(m: pb::WebcastAccessRecallMessage) -> Fields {
    Builder::default()
        .int("status", m.status)
        .int("duration", m.duration)
        .int("end_time", m.end_time)
        .bytes("scene", m.scene)
        .done()
}

pub(super) fn rank_text(m: pb::WebcastRankTextMessage) -> Fields {
    Builder::default()
        .int("scene", m.scene)
        .int("rank_type", m.rank_type)
        .int("owner_idx_before_update", m.owner_idx_before_update)
        .int("owner_idx_after_update", m.owner_idx_after_update)
        .id("cur_user_id", m.cur_user_id)
        .display("content", m.content.as_ref())
        .done()
}

pub(super) fn hourly_rank_reward(m: pb::WebcastHourlyRankRewardMessage) -> Fields {
    let winners = m
        .winners
        .iter()
        .map(|w| {
            Value::Object(vec![
                ("user_id", Value::UInt(w.user_id)),
                ("asset_id", Value::UInt(w.asset_id)),
            ])
        })
        .collect();
    Builder::default().list("winners", winners).done()
}

pub(super) fn sub_pin_event(m: pb::WebcastSubPinEventMessage) -> Fields {
    Builder::default()
        .int("action_type", m.action_type)
        .id("operator_user_id", m.operator_user_id)
        .done()
}

pub(super) fn viewer_picks_update(m: pb::WebcastViewerPicksUpdateMessage) -> Fields {
    Builder::default().int("update_type", m.update_type).done()
}

pub(super) fn gift_broadcast(m: pb::WebcastGiftBroadcastMessage) -> Fields {
    let notify = m.notify.unwrap_or_default();
    Builder::default()
        .id("from_user_id", m.from_user_id)
        .bytes("content", notify.content)
        .int("notify_type", notify.notify_type)
        .id("to_anchor_id", notify.to_anchor_id)
        .with_user(user_ref(notify.user.as_ref(), None))
}

pub(super) fn gift_panel_update(m: pb::WebcastGiftPanelUpdateMessage) -> Fields {
    Builder::default().int("timestamp", m.timestamp).done()
}

pub(super) fn gift_prompt(m: pb::WebcastGiftPromptMessage) -> Fields {
    Builder::default()
        .bytes("title", m.title)
        .bytes("body", m.body)
        .done()
}

pub(super) fn oec_live_shopping(m: pb::WebcastOecLiveShoppingMessage) -> Fields {
    let product = m.pop_product.unwrap_or_default();
    Builder::default()
        .int("action_type", m.action_type)
        .int("live_product_number", m.live_product_number)
        .int("card_type", m.card_type)
        .id("product_id", product.product_id)
        .bytes("product_title", product.title)
        .bytes("product_price", product.price)
        .done()
}

pub(super) fn partnership_drops_update(m: pb::WebcastPartnershipDropsUpdateMessage) -> Fields {
    Builder::default()
        .int("change_mode", m.change_mode)
        .bytes("drops_id", m.drops_id)
        .bytes("task_id", m.task_id)
        .bytes("event_id", m.event_id)
        .id("anchor_uid", m.anchor_uid)
        .done()
}

pub(super) fn game_rank_notify(m: pb::WebcastGameRankNotifyMessage) -> Fields {
    Builder::default()
        .int("msg_type", m.msg_type)
        .display("notify_text", m.notify_text.as_ref())
        .done()
}

pub(super) fn live_game_intro(m: pb::WebcastLiveGameIntroMessage) -> Fields {
    Builder::default()
        .display("content", m.content.as_ref())
        .flag("has_rank_info", m.has_rank_info)
        .done()
}

pub(super) fn battle_item_card(m: pb::WebcastLinkMicBattleItemCard) -> Fields {
    Builder::default()
        .id("battle_id", m.battle_id)
        .int("msg_type", m.msg_type)
        .int("award_reason", m.award_reason)
        .done()
}

pub(super) fn battle_punish_finish(m: pb::WebcastLinkMicBattlePunishFinish) -> Fields {
    Builder::default()
        .id("battle_id", m.battle_id)
        .id("channel_id", m.channel_id)
        .id("op_uid", m.op_uid)
        .int("reason", m.reason)
        .done()
}

pub(super) fn battle_task(m: pb::WebcastLinkmicBattleTaskMessage) -> Fields {
    Builder::default()
        .id("battle_id", m.battle_id)
        .int("task_message_type", m.task_message_type)
        .done()
}

pub(super) fn fan_ticket(m: pb::WebcastLinkMicFanTicketMethod) -> Fields {
    let notice = m.fan_ticket_room_notice.unwrap_or_default();
    let tickets = notice
        .user_fan_ticket
        .iter()
        .map(|t| {
            Value::Object(vec![
                ("user_id", Value::UInt(t.user_id)),
                ("fan_ticket", Value::Int(t.fan_ticket)),
            ])
        })
        .collect();
    Builder::default()
        .int("total_linkmic_fan_ticket", notice.total_linkmic_fan_ticket)
        .id("match_id", notice.match_id)
        .list("user_fan_tickets", tickets)
        .done()
}

pub(super) fn link_mic_method(m: pb::WebcastLinkMicMethod) -> Fields {
    Builder::default()
        .int("message_type", m.message_type)
        .id("user_id", m.user_id)
        .int("fan_ticket", m.fan_ticket)
        .int("total_linkmic_fan_ticket", m.total_linkmic_fan_ticket)
        .id("channel_id", m.channel_id)
        .id("to_user_id", m.to_user_id)
        .id("from_user_id", m.from_user_id)
        .id("from_room_id", m.from_room_id)
        .done()
}

pub(super) fn link_mic_layout_state(m: pb::WebcastLinkMicLayoutStateMessage) -> Fields {
    Builder::default()
        .id("channel_id", m.channel_id)
        .int("scene", m.scene)
        .int("version", m.version)
        .done()
}

pub(super) fn link_state(m: pb::WebcastLinkStateMessage) -> Fields {
    Builder::default()
        .id("channel_id", m.channel_id)
        .int("scene", m.scene)
        .int("version", m.version)
        .int("state_type", m.state_type)
        .done()
}

pub(super) fn link_message(m: pb::WebcastLinkMessage) -> Fields {
    Builder::default()
        .int("message_type", m.message_type)
        .id("linker_id", m.linker_id)
        .int("scene", m.scene)
        .done()
}

pub(super) fn link_layer(m: pb::WebcastLinkLayerMessage) -> Fields {
    Builder::default()
        .int("message_type", m.message_type)
        .id("channel_id", m.channel_id)
        .int("scene", m.scene)
        .bytes("source", m.source)
        .id("rtc_room_id", m.rtc_room_id)
        .done()
}
