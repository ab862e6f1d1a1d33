//! Conversions of the messages that have a table of their own besides the core ones:
//! subscriptions, questions, envelopes, polls, goals, rank updates, battles and armies, pins,
//! deletions, the live intro, and room-level texts.
//!
//! Pure, like its parent `convert`. Must not touch: I/O, serde, metrics.

use super::{render, text, user_ref};
use crate::event::{
    ArmyMember, Battle, BattleArmies, BattleHost, Envelope, Event, Goal, ImDelete, LiveIntro, Meta,
    Poll, PollOption, Question, RankEntry, RankUpdate, RoomPin, RoomText, SubGoal, Subscription,
    UserRef,
};
use crate::tiktok::proto as pb;

/// `EnvelopeInfo.business_type` of a super fan box (PROTOCOL.md §5.1 derived events).
const ENVELOPE_SUPER_FAN_BOX: i32 = 19;

pub(super) fn subscription(meta: Meta, m: pb::WebcastSubNotifyMessage) -> Event {
    Event::Subscription(Subscription {
        meta,
        user: user_ref(m.user.as_ref(), None),
        sub_month: m.sub_month.clamp(0, i64::from(u32::MAX)) as u32,
        subscribe_type: m.subscribe_type,
        old_subscribe_status: m.old_subscribe_status,
        subscribing_status: m.subscribing_status,
        message_type: m.message_type,
        is_send: m.is_send,
        is_custom: m.is_custom,
        gift_source: m.gift_source,
        package_id: text(&m.package_id),
    })
}

pub(super) fn question(meta: Meta, m: pb::WebcastQuestionNewMessage) -> Event {
    let q = m.data.unwrap_or_default();
    Event::Question(Question {
        meta,
        user: user_ref(q.user.as_ref(), None),
        question_id: q.question_id,
        content: text(&q.content),
        answer_status: q.answer_status,
    })
}

pub(super) fn envelope(meta: Meta, m: pb::WebcastEnvelopeMessage) -> Event {
    let info = m.envelope_info.unwrap_or_default();
    let display_key = m
        .common
        .as_ref()
        .and_then(|c| c.display_text.as_ref())
        .map(|t| text(&t.key).to_ascii_lowercase())
        .unwrap_or_default();
    Event::Envelope(Envelope {
        meta,
        is_super_fan_box: info.business_type == ENVELOPE_SUPER_FAN_BOX
            || display_key.contains("ttlive_superfanbox"),
        envelope_id: text(&info.envelope_id),
        business_type: info.business_type,
        sender_id: text(&info.send_user_id).trim().parse().unwrap_or(0),
        sender_name: text(&info.send_user_name),
        diamond_count: info.diamond_count.max(0) as u32,
        people_count: info.people_count.max(0) as u32,
        unpack_at_ms: i64::from(info.unpack_at.max(0)) * 1000,
        display: m.display,
    })
}

fn poll_options(list: Vec<pb::PollOptionInfo>) -> Vec<PollOption> {
    list.into_iter()
        .map(|o| PollOption {
            index: o.option_idx,
            text: text(&o.display_content),
            votes: o.votes,
        })
        .collect()
}

pub(super) fn poll(meta: Meta, m: pb::WebcastPollMessage) -> Event {
    let basic = m.poll_basic_info.unwrap_or_default();
    let (mut title, mut operator, mut options, mut end_type) =
        (text(&basic.title), UserRef::default(), Vec::new(), 0);
    if let Some(start) = m.start_content {
        if title.is_empty() {
            title = text(&start.title);
        }
        operator = user_ref(start.operator.as_ref(), None);
        options = poll_options(start.option_list);
    }
    if let Some(update) = m.update_votes_content {
        options = poll_options(update.option_list);
    }
    if let Some(end) = m.end_content {
        if operator.id == 0 {
            operator = user_ref(end.operator.as_ref(), None);
        }
        options = poll_options(end.option_list);
        end_type = end.end_type;
    }
    Event::Poll(Poll {
        meta,
        poll_id: m.poll_id,
        message_type: m.message_type,
        kind: m.poll_kind,
        title,
        operator,
        options,
        end_type,
    })
}

pub(super) fn goal(meta: Meta, m: pb::WebcastGoalUpdateMessage) -> Event {
    let goal = m.goal.unwrap_or_default();
    Event::Goal(Goal {
        meta,
        goal_id: goal.id,
        description: text(&goal.description),
        status: goal.status,
        contributor_id: m.contributor_id,
        contributor_unique_id: text(&m.contributor_display_id),
        contribute_count: m.contribute_count,
        contribute_score: m.contribute_score,
        sub_goals: goal
            .sub_goals
            .into_iter()
            .map(|g| SubGoal {
                id: g.id,
                kind: g.r#type,
                progress: g.progress,
                target: g.target,
            })
            .collect(),
    })
}

pub(super) fn rank_update(meta: Meta, m: pb::WebcastRankUpdateMessage) -> Event {
    Event::RankUpdate(RankUpdate {
        meta,
        group_type: m.group_type,
        op_type: m.op_type,
        priority: m.rank_priority,
        ranks: m
            .updates
            .iter()
            .map(|u| RankEntry {
                rank_type: u.rank_type,
                own_rank: u.own_rank,
                score: u.current_score,
                text: u.default_content.as_ref().map(render).unwrap_or_default(),
            })
            .collect(),
    })
}

pub(super) fn battle(meta: Meta, m: pb::WebcastLinkMicBattle) -> Event {
    let settings = m.battle_settings.unwrap_or_default();
    let mut hosts: Vec<BattleHost> = Vec::new();
    let host_mut = |hosts: &mut Vec<BattleHost>, user_id: u64| -> usize {
        match hosts.iter().position(|h| h.user_id == user_id) {
            Some(i) => i,
            None => {
                hosts.push(BattleHost {
                    user_id,
                    unique_id: String::new(),
                    nickname: String::new(),
                    team_id: 0,
                    result: -1,
                    score: 0,
                });
                hosts.len() - 1
            }
        }
    };
    for info in m.anchors_info {
        let user = info.value.and_then(|v| v.user).unwrap_or_default();
        let id = if user.user_id != 0 {
            user.user_id
        } else {
            info.key
        };
        let i = host_mut(&mut hosts, id);
        hosts[i].unique_id = text(&user.display_id);
        hosts[i].nickname = text(&user.nick_name);
    }
    for (key, result) in m.battle_result {
        let id = if result.user_id != 0 {
            result.user_id
        } else {
            key
        };
        let i = host_mut(&mut hosts, id);
        hosts[i].result = result.result;
        hosts[i].score = result.score;
    }
    for team in m.team_member {
        for id in team.user_id {
            let i = host_mut(&mut hosts, id);
            hosts[i].team_id = team.team_id;
        }
    }
    Event::Battle(Battle {
        meta,
        battle_id: if m.battle_id != 0 {
            m.battle_id
        } else {
            settings.battle_id
        },
        action: m.action,
        status: settings.status,
        battle_type: settings.battle_type,
        channel_id: settings.channel_id,
        start_time_ms: settings.start_time_ms,
        duration_s: settings.duration,
        hosts,
    })
}

pub(super) fn battle_armies(meta: Meta, m: pb::WebcastLinkMicArmies) -> Event {
    let mut host_scores = Vec::with_capacity(m.armies.len());
    let mut members = Vec::new();
    for (host_id, army) in m.armies {
        host_scores.push((host_id, army.hostscore));
        members.extend(army.user_armies.into_iter().map(|u| ArmyMember {
            host_id,
            user_id: u.user_id,
            nickname: text(&u.nickname),
            score: u.score,
        }));
    }
    Event::BattleArmies(BattleArmies {
        meta,
        battle_id: m.battle_id,
        trigger_reason: m.trigger_reason,
        from_user_id: m.from_user_id,
        gift_id: m.gift_id,
        gift_count: m.gift_count,
        repeat_count: m.repeat_count,
        total_diamond_count: m.total_diamond_count,
        host_scores,
        members,
    })
}

pub(super) fn room_pin(meta: Meta, m: pb::WebcastRoomPinMessage) -> Event {
    let (pinned_user, pinned_content) = if let Some(chat) = m.chat_message.as_ref() {
        (
            user_ref(chat.user.as_ref(), chat.user_identity.as_ref()),
            text(&chat.content),
        )
    } else if let Some(gift) = m.gift_message.as_ref() {
        (user_ref(gift.user.as_ref(), None), String::new())
    } else if let Some(social) = m.social_message.as_ref() {
        (user_ref(social.user.as_ref(), None), String::new())
    } else if let Some(member) = m.member_message.as_ref() {
        (user_ref(member.user.as_ref(), None), String::new())
    } else if let Some(like) = m.like_message.as_ref() {
        (user_ref(like.user.as_ref(), None), String::new())
    } else {
        (UserRef::default(), String::new())
    };
    Event::RoomPin(Box::new(RoomPin {
        meta,
        operator: user_ref(m.operator.as_ref(), None),
        action: m.action,
        pinned_msg_id: m.pin_msg_id,
        pinned_method: text(&m.method),
        pinned_user,
        pinned_content,
        pin_time_ms: super::normalise_time_ms(m.pin_time, 0),
        display_duration_s: m.display_duration,
    }))
}

pub(super) fn im_delete(meta: Meta, m: pb::WebcastImDeleteMessage) -> Event {
    Event::ImDelete(ImDelete {
        meta,
        msg_ids: m.delete_msg_ids,
        user_ids: m.delete_user_ids,
    })
}

pub(super) fn live_intro(meta: Meta, m: pb::WebcastLiveIntroMessage) -> Event {
    Event::LiveIntro(LiveIntro {
        meta,
        user: user_ref(m.user.as_ref(), None),
        intro_id: m.id,
        content: text(&m.content),
        language: text(&m.content_language),
    })
}

fn room_text(meta: Meta, kind: &'static str, content: String, code: i64) -> RoomText {
    RoomText {
        meta,
        kind,
        content,
        language: String::new(),
        user: UserRef::default(),
        code,
    }
}

pub(super) fn room_message(meta: Meta, m: pb::WebcastRoomMessage) -> Event {
    Event::RoomText(room_text(
        meta,
        "room",
        text(&m.content),
        i64::from(m.source),
    ))
}

pub(super) fn system_message(meta: Meta, m: pb::WebcastSystemMessage) -> Event {
    Event::RoomText(room_text(meta, "system", text(&m.message), 0))
}

/// A caption's lines are one per language; they are joined with a newline, and `language`
/// lists the languages in the same order, comma-separated.
pub(super) fn caption(meta: Meta, m: pb::WebcastCaptionMessage) -> Event {
    let content: Vec<String> = m.content.iter().map(|c| text(&c.content)).collect();
    let languages: Vec<String> = m.content.iter().map(|c| text(&c.lang)).collect();
    let mut t = room_text(meta, "caption", content.join("\n"), m.sentence_id);
    t.language = languages.join(",");
    Event::RoomText(t)
}

pub(super) fn notice(meta: Meta, m: pb::WebcastNoticeMessage) -> Event {
    Event::RoomText(room_text(
        meta,
        "notice",
        text(&m.content),
        i64::from(m.notice_type),
    ))
}

pub(super) fn bottom(meta: Meta, m: pb::WebcastBottomMessage) -> Event {
    Event::RoomText(room_text(
        meta,
        "bottom",
        text(&m.content),
        i64::from(m.biz_type),
    ))
}

pub(super) fn room_notify(meta: Meta, m: pb::WebcastRoomNotifyMessage) -> Event {
    let mut t = room_text(meta, "notify", text(&m.content), m.notify_type);
    t.user = user_ref(m.user.as_ref(), None);
    if t.user.id == 0 {
        t.user.id = m.from_user_id;
    }
    Event::RoomText(t)
}
