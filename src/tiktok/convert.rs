//! Protobuf message (by method) → domain `Event`: the only file that names proto fields.
//!
//! Pure. A message whose method has no typed conversion becomes `Event::Raw` without error; one
//! that fails to decode becomes `Event::Raw` carrying the error, so nothing is lost and one bad
//! message never breaks its frame.
//!
//! Must not touch: I/O, serde, metrics.

use prost::Message;

use super::proto::{self as pb, BaseProtoMessage, CommonMessageData, User, UserIdentity};
use crate::event::{
    Chat, Control, ControlAction, Event, Gift, Like, Member, Meta, Raw, Social, SocialKind,
    UserRef, ViewerCount,
};

/// Badge scene types (PROTOCOL.md §5.2 `BadgeSceneType`).
const SCENE_ADMIN: i32 = 1;
const SCENE_SUBSCRIBER: i32 = 4;
const SCENE_RANK_LIST: i32 = 6;
const SCENE_NEW_SUBSCRIBER: i32 = 7;
const SCENE_USER_GRADE: i32 = 8;
const SCENE_FANS: i32 = 10;

/// Converts one envelope. `room_fallback` is the connection's room, used when the message's
/// common header carries none.
pub fn convert(msg: &BaseProtoMessage, room_fallback: u64) -> Event {
    let result = match msg.method.as_str() {
        "WebcastChatMessage" => decode(msg, room_fallback, chat),
        "WebcastGiftMessage" => decode(msg, room_fallback, gift),
        "WebcastLikeMessage" => decode(msg, room_fallback, like),
        "WebcastMemberMessage" => decode(msg, room_fallback, member),
        "WebcastSocialMessage" => decode(msg, room_fallback, social),
        "WebcastRoomUserSeqMessage" => decode(msg, room_fallback, viewer_count),
        "WebcastControlMessage" => decode(msg, room_fallback, control),
        _ => return raw(msg, room_fallback, None),
    };
    result.unwrap_or_else(|e| raw(msg, room_fallback, Some(e.to_string())))
}

/// The typed messages that carry a `common` header.
trait HasCommon: Message + Default {
    fn common(&self) -> Option<&CommonMessageData>;
}

macro_rules! has_common {
    ($($t:ty),*) => {$(impl HasCommon for $t { fn common(&self) -> Option<&CommonMessageData> { self.common.as_ref() } })*};
}
has_common!(
    pb::WebcastChatMessage,
    pb::WebcastGiftMessage,
    pb::WebcastLikeMessage,
    pb::WebcastMemberMessage,
    pb::WebcastSocialMessage,
    pb::WebcastRoomUserSeqMessage,
    pb::WebcastControlMessage
);

fn decode<M: HasCommon>(
    msg: &BaseProtoMessage,
    room_fallback: u64,
    build: fn(Meta, M) -> Event,
) -> Result<Event, prost::DecodeError> {
    let m = M::decode(msg.payload.as_slice())?;
    let meta = meta(msg, m.common(), room_fallback);
    Ok(build(meta, m))
}

fn raw(msg: &BaseProtoMessage, room_fallback: u64, error: Option<String>) -> Event {
    // Best effort: most unknown messages still start with a common header in field 1.
    let common = CommonOnly::decode(msg.payload.as_slice())
        .ok()
        .and_then(|c| c.common);
    Event::Raw(Raw {
        meta: meta(msg, common.as_ref(), room_fallback),
        method: msg.method.clone(),
        payload: msg.payload.clone(),
        error,
    })
}

#[derive(Clone, PartialEq, prost::Message)]
struct CommonOnly {
    #[prost(message, optional, tag = "1")]
    common: Option<CommonMessageData>,
}

/// Message identity and time. `create_time` is ms, but old messages carry seconds or nothing;
/// a missing time is taken from the msg id (its high 32 bits are Unix seconds).
fn meta(msg: &BaseProtoMessage, common: Option<&CommonMessageData>, room_fallback: u64) -> Meta {
    let msg_id = common
        .map(|c| c.msg_id)
        .filter(|&id| id != 0)
        .unwrap_or(msg.msg_id);
    let room_id = common
        .map(|c| c.room_id)
        .filter(|&id| id != 0)
        .unwrap_or(room_fallback);
    let create_time = common.map(|c| c.create_time).unwrap_or(0);
    Meta {
        room_id,
        msg_id,
        time_ms: normalise_time_ms(create_time, msg_id),
    }
}

/// Milliseconds since the epoch from a raw `create_time` (ms, s or 0) and the message id.
pub fn normalise_time_ms(create_time: i64, msg_id: u64) -> i64 {
    const MS_THRESHOLD: i64 = 100_000_000_000; // 1973 in ms, 5138 in s
    if create_time >= MS_THRESHOLD {
        create_time
    } else if create_time > 0 {
        create_time * 1000
    } else {
        ((msg_id >> 32) as i64) * 1000
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The user and the flags derived from the message's `UserIdentity` (preferred) and the badges.
fn user_ref(user: Option<&User>, identity: Option<&UserIdentity>) -> UserRef {
    let Some(u) = user else {
        return UserRef::default();
    };
    let mut r = UserRef {
        id: u.id,
        unique_id: text(&u.display_id),
        nickname: text(&u.nickname),
        is_moderator: u
            .user_attr
            .as_ref()
            .is_some_and(|a| a.is_admin || a.is_super_admin),
        is_subscriber: u.is_subscribe,
        is_follower: u.is_follower,
        is_friend: false,
        gifter_level: u.pay_grade.as_ref().map_or(0, |g| g.level.max(0) as u32),
        fan_club_level: u
            .fans_club
            .as_ref()
            .and_then(|f| f.data.as_ref())
            .map_or(0, |d| d.level.max(0) as u32),
        is_top_gifter: false,
    };
    if let Some(f) = &u.follow_info {
        r.is_follower |= f.follow_status >= 1;
        r.is_friend = f.follow_status >= 2;
    }
    for badge in &u.badge_list {
        let level = badge
            .privilege_log_extra
            .as_ref()
            .and_then(|p| p.level.parse::<u32>().ok());
        match badge.scene_type {
            SCENE_ADMIN => r.is_moderator = true,
            SCENE_SUBSCRIBER | SCENE_NEW_SUBSCRIBER => r.is_subscriber = true,
            SCENE_RANK_LIST => r.is_top_gifter = true,
            SCENE_USER_GRADE => r.gifter_level = r.gifter_level.max(level.unwrap_or(0)),
            SCENE_FANS => r.fan_club_level = r.fan_club_level.max(level.unwrap_or(0)),
            _ => {}
        }
        let url = badge
            .image
            .as_ref()
            .and_then(|i| i.image.as_ref())
            .and_then(|i| i.url_list.first());
        if url.is_some_and(|u| u.contains("/ranklist_top_gifter_") || u.contains("/new_top_gifter"))
        {
            r.is_top_gifter = true;
        }
    }
    if let Some(id) = identity {
        r.is_moderator |= id.is_moderator_of_anchor;
        r.is_subscriber |= id.is_subscriber_of_anchor;
        r.is_follower |= id.is_follower_of_anchor || id.is_mutual_following_with_anchor;
        r.is_friend |= id.is_mutual_following_with_anchor;
    }
    r
}

fn chat(meta: Meta, m: pb::WebcastChatMessage) -> Event {
    Event::Chat(Chat {
        meta,
        user: user_ref(m.user.as_ref(), m.user_identity.as_ref()),
        content: text(&m.content),
        language: m.content_language,
        mention_user_id: m.at_user.map_or(0, |u| u.id),
    })
}

fn gift(meta: Meta, m: pb::WebcastGiftMessage) -> Event {
    let g = m.gift.unwrap_or_default();
    let repeat_count = m.repeat_count.max(0) as u32;
    let diamond_count = g.diamond_count.max(0) as u32;
    let repeat_end = m.repeat_end == 1;
    // PROTOCOL.md §5.5: a streakable gift counts once, on the message that ends its streak.
    let is_final = g.r#type != 1 || repeat_end;
    Event::Gift(Gift {
        meta,
        user: user_ref(m.user.as_ref(), m.user_identity.as_ref()),
        gift_id: if m.gift_id != 0 { m.gift_id } else { g.id },
        gift_name: text(&g.name),
        gift_type: g.r#type,
        diamond_count,
        repeat_count,
        repeat_end,
        combo_count: m.combo_count.max(0) as u32,
        group_id: m.group_id,
        to_user_id: m.to_user.map_or(0, |u| u.id),
        is_final,
        diamonds: if is_final {
            u64::from(diamond_count) * u64::from(repeat_count.max(1))
        } else {
            0
        },
    })
}

fn like(meta: Meta, m: pb::WebcastLikeMessage) -> Event {
    Event::Like(Like {
        meta,
        user: user_ref(m.user.as_ref(), None),
        count: m.count.max(0) as u32,
        total: m.total.max(0) as u64,
    })
}

fn member(meta: Meta, m: pb::WebcastMemberMessage) -> Event {
    Event::Member(Member {
        meta,
        user: user_ref(m.user.as_ref(), None),
        action: m.action,
        member_count: m.member_count.max(0) as u32,
    })
}

fn social(meta: Meta, m: pb::WebcastSocialMessage) -> Event {
    let display_key = m
        .common
        .as_ref()
        .and_then(|c| c.display_text.as_ref())
        .map(|t| t.key.clone())
        .unwrap_or_default();
    // PROTOCOL.md §5.8: the display key decides; `action` (1 follow, 3 share) only when it is absent.
    let lower = display_key.to_ascii_lowercase();
    let kind = if lower.contains("follow") {
        SocialKind::Follow
    } else if lower.contains("share") {
        SocialKind::Share
    } else if display_key.is_empty() && m.action == 1 {
        SocialKind::Follow
    } else if display_key.is_empty() && m.action == 3 {
        SocialKind::Share
    } else {
        SocialKind::Other
    };
    Event::Social(Social {
        meta,
        user: user_ref(m.user.as_ref(), None),
        kind,
        action: m.action,
        share_type: m.share_type,
        share_target: m.share_target,
        share_count: m.share_count.max(0) as u32,
        follow_count: m.follow_count.max(0) as u64,
        display_key,
    })
}

fn viewer_count(meta: Meta, m: pb::WebcastRoomUserSeqMessage) -> Event {
    Event::ViewerCount(ViewerCount {
        meta,
        viewers: m.total.max(0) as u64,
        total_user: m.total_user.max(0) as u64,
        popularity: m.popularity.max(0) as u64,
        top_viewers: m
            .ranks
            .iter()
            .map(|c| (c.user.as_ref().map_or(0, |u| u.id), c.score))
            .collect(),
    })
}

fn control(meta: Meta, m: pb::WebcastControlMessage) -> Event {
    Event::Control(Control {
        meta,
        action: ControlAction::from_code(m.action),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiktok::frame::envelope;

    fn common(method: &str, msg_id: u64) -> Option<CommonMessageData> {
        Some(CommonMessageData {
            method: method.into(),
            msg_id,
            room_id: 7,
            create_time: 1_717_000_000_123,
            ..Default::default()
        })
    }

    fn user(id: u64) -> Option<User> {
        Some(User {
            id,
            nickname: "Zuschauer 🌹".into(),
            display_id: b"user0001".to_vec(),
            ..Default::default()
        })
    }

    #[test]
    fn chat_keeps_text_and_user_flags() {
        let m = pb::WebcastChatMessage {
            common: common("WebcastChatMessage", 1),
            user: user(18446744073709551615),
            content: "héllo 👋🏽".as_bytes().to_vec(),
            content_language: "de".into(),
            user_identity: Some(UserIdentity {
                is_moderator_of_anchor: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let Event::Chat(c) = convert(&envelope("WebcastChatMessage", 1, m.encode_to_vec()), 0)
        else {
            panic!()
        };
        assert_eq!(c.content, "héllo 👋🏽");
        assert_eq!(c.user.id, 18446744073709551615);
        assert_eq!(c.user.unique_id, "user0001");
        assert!(c.user.is_moderator && !c.user.is_subscriber);
        assert_eq!(
            c.meta,
            Meta {
                room_id: 7,
                msg_id: 1,
                time_ms: 1_717_000_000_123
            }
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let m = pb::WebcastChatMessage {
            common: common("x", 2),
            content: vec![b'a', 0xff, b'b'],
            ..Default::default()
        };
        let Event::Chat(c) = convert(&envelope("WebcastChatMessage", 2, m.encode_to_vec()), 0)
        else {
            panic!()
        };
        assert_eq!(c.content, "a\u{fffd}b");
    }

    #[test]
    fn gift_streak_counts_once() {
        let mk = |repeat_count, repeat_end, r#type| {
            let m = pb::WebcastGiftMessage {
                common: common("WebcastGiftMessage", 3),
                gift_id: 5655,
                repeat_count,
                repeat_end,
                gift: Some(pb::Gift {
                    r#type,
                    diamond_count: 5,
                    name: b"Rose".to_vec(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            match convert(&envelope("WebcastGiftMessage", 3, m.encode_to_vec()), 0) {
                Event::Gift(g) => (g.is_final, g.diamonds),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(mk(3, 0, 1), (false, 0));
        assert_eq!(mk(7, 1, 1), (true, 35));
        assert_eq!(mk(2, 0, 2), (true, 10));
    }

    #[test]
    fn social_kind_follows_display_key() {
        let mk = |key: &str, action| {
            let mut c = common("WebcastSocialMessage", 4);
            c.as_mut().unwrap().display_text = Some(pb::Text {
                key: key.into(),
                ..Default::default()
            });
            let m = pb::WebcastSocialMessage {
                common: c,
                action,
                ..Default::default()
            };
            match convert(&envelope("WebcastSocialMessage", 4, m.encode_to_vec()), 0) {
                Event::Social(s) => s.kind,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(mk("pm_main_follow_message_viewer_2", 3), SocialKind::Follow);
        assert_eq!(mk("pm_mt_guidance_viewer_7_share", 1), SocialKind::Share);
        assert_eq!(mk("", 3), SocialKind::Share);
        assert_eq!(mk("pm_other", 1), SocialKind::Other);
    }

    #[test]
    fn like_member_viewers_control() {
        let like = pb::WebcastLikeMessage {
            common: common("x", 5),
            count: 15,
            total: 14470,
            ..Default::default()
        };
        assert!(
            matches!(convert(&envelope("WebcastLikeMessage", 5, like.encode_to_vec()), 0),
            Event::Like(l) if l.count == 15 && l.total == 14470)
        );
        let member = pb::WebcastMemberMessage {
            common: common("x", 6),
            action: 1,
            member_count: 774,
            ..Default::default()
        };
        assert!(
            matches!(convert(&envelope("WebcastMemberMessage", 6, member.encode_to_vec()), 0),
            Event::Member(m) if m.action == 1 && m.member_count == 774)
        );
        let seq = pb::WebcastRoomUserSeqMessage {
            common: common("x", 7),
            total: 7,
            total_user: 797,
            ranks: vec![pb::Contributor {
                score: 10,
                user: user(9),
                rank: 1,
            }],
            ..Default::default()
        };
        assert!(
            matches!(convert(&envelope("WebcastRoomUserSeqMessage", 7, seq.encode_to_vec()), 0),
            Event::ViewerCount(v) if v.viewers == 7 && v.total_user == 797 && v.top_viewers == vec![(9, 10)])
        );
        let ctl = pb::WebcastControlMessage {
            common: common("x", 8),
            action: 3,
            ..Default::default()
        };
        assert!(
            matches!(convert(&envelope("WebcastControlMessage", 8, ctl.encode_to_vec()), 0),
            Event::Control(c) if c.action.ends_stream())
        );
    }

    #[test]
    fn unknown_and_broken_messages_stay_raw() {
        let unknown = envelope(
            "WebcastNewThing",
            9,
            pb::WebcastControlMessage {
                common: common("x", 9),
                ..Default::default()
            }
            .encode_to_vec(),
        );
        match convert(&unknown, 0) {
            Event::Raw(r) => {
                assert_eq!(
                    (r.method.as_str(), r.meta.msg_id, r.meta.room_id, r.error),
                    ("WebcastNewThing", 9, 7, None)
                );
            }
            other => panic!("{other:?}"),
        }
        let broken = envelope("WebcastChatMessage", 10, vec![0x0a, 0xff]);
        match convert(&broken, 42) {
            Event::Raw(r) => {
                assert_eq!((r.meta.msg_id, r.meta.room_id), (10, 42));
                assert!(r.error.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn time_is_normalised() {
        assert_eq!(normalise_time_ms(1_717_000_000_123, 0), 1_717_000_000_123);
        assert_eq!(normalise_time_ms(1_649_070_330, 0), 1_649_070_330_000);
        assert_eq!(normalise_time_ms(0, 7082703136385059589), 1_649_070_330_000);
    }
}
