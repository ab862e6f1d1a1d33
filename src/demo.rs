//! DEBUG_MODE: a mock room that produces realistic activity — chat in many scripts with emoji,
//! gifts with streaks, likes, joins, follows, shares, viewer counts — encoded exactly as TikTok
//! sends it (typed protobuf messages in a gzip'd fetch result in a PushFrame), so the offline
//! demo runs through the same decoder, converter and writer as live traffic.
//!
//! Must not touch: sockets, ClickHouse.

use bytes::Bytes;
use prost::Message;

use crate::tiktok::frame::{encode_msg_frame, envelope};
use crate::tiktok::proto::{
    self as pb, BaseProtoMessage, CommonMessageData, ProtoMessageFetchResult, TextKey, User,
};

/// The demo room's id.
pub const DEMO_ROOM_ID: u64 = 7_446_000_000_000_000_001;

const CHATS: &[(&str, &str)] = &[
    ("hello from Berlin 👋", "en"),
    ("this stream is 🔥🔥🔥", "en"),
    ("hola a todos ❤️", "es"),
    ("que legal essa live 😂", "pt"),
    ("привет всем!", "ru"),
    ("مرحبا بالجميع \u{200f}🌹", "ar"),
    ("大家好，欢迎来到直播间", "zh"),
    ("こんにちは！初見です", "ja"),
    ("안녕하세요 👍🏽", "ko"),
    ("xin chào mọi người 🇻🇳", "vi"),
    ("สวัสดีครับ", "th"),
    ("he said \"wow\" \\o/", "en"),
    ("👨‍👩‍👧‍👦🇧🇷✨", "un"),
];

const GIFTS: &[(u64, &str, i32, i32)] = &[
    // (id, name, diamonds, type: 1 streakable)
    (5655, "Rose", 1, 1),
    (5269, "TikTok", 1, 1),
    (6064, "GG", 1, 1),
    (5487, "Finger Heart", 5, 1),
    (6104, "Cap", 99, 2),
    (6033, "Sports Car", 7000, 2),
];

/// xorshift64*: deterministic for a seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A gift streak in progress.
struct Streak {
    user: usize,
    gift: usize,
    group_id: u64,
    count: i32,
    target: i32,
}

pub struct DemoRoom {
    rng: Rng,
    seq: u64,
    msg_counter: u64,
    viewers: i64,
    total_viewers: i64,
    total_likes: i64,
    streaks: Vec<Streak>,
}

impl DemoRoom {
    pub fn new(seed: u64) -> DemoRoom {
        DemoRoom {
            rng: Rng(seed | 1),
            seq: 0,
            msg_counter: 0,
            viewers: 120,
            total_viewers: 400,
            total_likes: 0,
            streaks: Vec::new(),
        }
    }

    /// The next `msg` PushFrame, as bytes off the socket, for time `now_ms`.
    pub fn next_frame(&mut self, now_ms: i64) -> Vec<u8> {
        let mut messages = Vec::new();
        let n = 6 + self.rng.below(10);
        for _ in 0..n {
            let msg = match self.rng.below(100) {
                0..=39 => self.chat(now_ms),
                40..=54 => self.like(now_ms),
                55..=69 => self.member(now_ms),
                70..=79 => self.gift(now_ms),
                80..=86 => self.social(now_ms, true),
                _ => self.social(now_ms, false),
            };
            messages.push(msg);
        }
        messages.extend(self.advance_streaks(now_ms));
        messages.push(self.viewer_count(now_ms));
        self.seq += 1;
        let result = ProtoMessageFetchResult {
            messages,
            cursor: format!("{now_ms}_demo_{}", self.seq),
            fetch_interval: 1000,
            now: now_ms,
            internal_ext: format!("internal_src:demo|seq:{}", self.seq),
            need_ack: true,
            ..Default::default()
        };
        encode_msg_frame(self.seq, self.rng.next() >> 1, &result)
    }

    fn common(&mut self, now_ms: i64, key: &str) -> CommonMessageData {
        self.msg_counter += 1;
        let msg_id = ((now_ms as u64 / 1000) << 32) | (self.msg_counter & 0xffff_ffff);
        CommonMessageData {
            msg_id,
            room_id: DEMO_ROOM_ID,
            create_time: now_ms - self.rng.below(900) as i64,
            display_text: (!key.is_empty()).then(|| TextKey {
                key: Bytes::copy_from_slice(key.as_bytes()),
            }),
        }
    }

    fn user(&mut self, index: usize) -> User {
        let n = index + 1;
        User {
            id: 6_900_000_000_000_000_000 + n as u64 * 7919,
            nickname: format!("Demo Viewer {n:03}").into_bytes().into(),
            display_id: format!("demo_user{n:03}").into_bytes().into(),
            follow_info: Some(pb::FollowInfo {
                follower_count: (n * 37) as i64,
                follow_status: (n % 3) as i64,
                ..Default::default()
            }),
            pay_grade: Some(pb::UserHonor {
                level: (n % 30) as i32,
            }),
            user_attr: Some(pb::UserAttr {
                is_admin: n % 17 == 0,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn random_user(&mut self) -> (usize, User) {
        // A few regulars do most of the talking, as in real rooms.
        let index = if self.rng.below(2) == 0 {
            self.rng.below(8)
        } else {
            self.rng.below(60)
        } as usize;
        (index, self.user(index))
    }

    fn wrap(method: &str, common: &CommonMessageData, payload: Vec<u8>) -> BaseProtoMessage {
        envelope(method, common.msg_id, payload)
    }

    fn chat(&mut self, now_ms: i64) -> BaseProtoMessage {
        let common = self.common(now_ms, "");
        let (_, user) = self.random_user();
        let (text, lang) = CHATS[self.rng.below(CHATS.len() as u64) as usize];
        let m = pb::WebcastChatMessage {
            common: Some(common.clone()),
            user: Some(user),
            content: text.as_bytes().to_vec().into(),
            content_language: lang.into(),
            ..Default::default()
        };
        Self::wrap("WebcastChatMessage", &common, m.encode_to_vec())
    }

    fn like(&mut self, now_ms: i64) -> BaseProtoMessage {
        let common = self.common(now_ms, "pm_mt_msg_viewer");
        let (_, user) = self.random_user();
        let count = 1 + self.rng.below(15) as i32;
        self.total_likes += i64::from(count);
        let m = pb::WebcastLikeMessage {
            common: Some(common.clone()),
            count,
            total: self.total_likes,
            user: Some(user),
        };
        Self::wrap("WebcastLikeMessage", &common, m.encode_to_vec())
    }

    fn member(&mut self, now_ms: i64) -> BaseProtoMessage {
        let common = self.common(now_ms, "pm_mt_join_message_other_viewer");
        let (_, user) = self.random_user();
        self.viewers += 1;
        self.total_viewers += 1;
        let m = pb::WebcastMemberMessage {
            common: Some(common.clone()),
            user: Some(user),
            member_count: self.viewers as i32,
            action: 1,
        };
        Self::wrap("WebcastMemberMessage", &common, m.encode_to_vec())
    }

    fn social(&mut self, now_ms: i64, follow: bool) -> BaseProtoMessage {
        let key = if follow {
            "pm_main_follow_message_viewer_2"
        } else {
            "pm_mt_guidance_share"
        };
        let common = self.common(now_ms, key);
        let (_, user) = self.random_user();
        let m = pb::WebcastSocialMessage {
            common: Some(common.clone()),
            user: Some(user),
            action: if follow { 1 } else { 3 },
            share_type: i64::from(!follow),
            share_target: if follow {
                Bytes::new()
            } else {
                Bytes::from_static(b"whatsapp")
            },
            follow_count: 10_000 + self.rng.below(100) as i64,
            share_count: if follow {
                0
            } else {
                1 + self.rng.below(30) as i32
            },
        };
        Self::wrap("WebcastSocialMessage", &common, m.encode_to_vec())
    }

    fn gift_message(
        &mut self,
        now_ms: i64,
        user: usize,
        gift: usize,
        group_id: u64,
        repeat: i32,
        end: bool,
    ) -> BaseProtoMessage {
        let common = self.common(now_ms, "");
        let (id, name, diamonds, kind) = GIFTS[gift];
        let user = self.user(user);
        let m = pb::WebcastGiftMessage {
            common: Some(common.clone()),
            gift_id: id,
            repeat_count: repeat,
            combo_count: repeat,
            user: Some(user),
            repeat_end: i32::from(end),
            group_id,
            gift: Some(pb::Gift {
                id,
                r#type: kind,
                diamond_count: diamonds,
                name: name.as_bytes().to_vec().into(),
            }),
            ..Default::default()
        };
        Self::wrap("WebcastGiftMessage", &common, m.encode_to_vec())
    }

    /// A new gift: one-shot gifts end at once, streakable ones open a streak.
    fn gift(&mut self, now_ms: i64) -> BaseProtoMessage {
        let (user, _) = self.random_user();
        let gift = self.rng.below(GIFTS.len() as u64) as usize;
        let group_id = now_ms as u64;
        if GIFTS[gift].3 == 1 {
            let target = 1 + self.rng.below(12) as i32;
            self.streaks.push(Streak {
                user,
                gift,
                group_id,
                count: 1,
                target,
            });
            self.gift_message(now_ms, user, gift, group_id, 1, false)
        } else {
            self.gift_message(now_ms, user, gift, group_id, 1, true)
        }
    }

    /// Each open streak grows, and ends with a `repeat_end` message once it reaches its target.
    fn advance_streaks(&mut self, now_ms: i64) -> Vec<BaseProtoMessage> {
        let mut out = Vec::new();
        let streaks = std::mem::take(&mut self.streaks);
        for mut s in streaks {
            s.count = (s.count + 1 + self.rng.below(3) as i32).min(s.target);
            let end = s.count >= s.target;
            out.push(self.gift_message(now_ms, s.user, s.gift, s.group_id, s.count, end));
            if !end {
                self.streaks.push(s);
            }
        }
        out
    }

    fn viewer_count(&mut self, now_ms: i64) -> BaseProtoMessage {
        let common = self.common(now_ms, "");
        self.viewers = (self.viewers + self.rng.below(21) as i64 - 10).max(1);
        let ranks = (0..3)
            .map(|i| pb::Contributor {
                score: 500 - i * 120,
                user: Some(self.user(i as usize)),
                rank: i + 1,
            })
            .collect();
        let m = pb::WebcastRoomUserSeqMessage {
            common: Some(common.clone()),
            ranks,
            total: self.viewers,
            popularity: self.viewers * 3,
            total_user: self.total_viewers,
        };
        Self::wrap("WebcastRoomUserSeqMessage", &common, m.encode_to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::tiktok::frame::{decode, FrameKind};

    #[test]
    fn frames_decode_into_every_core_kind() {
        let mut room = DemoRoom::new(42);
        let mut kinds = std::collections::BTreeSet::new();
        let mut final_gifts = 0;
        for i in 0..40 {
            let frame = decode(&room.next_frame(1_717_000_000_000 + i * 3000)).unwrap();
            let FrameKind::Messages(result) = frame.kind else {
                panic!("demo frames carry messages")
            };
            assert!(result.need_ack);
            for m in &result.messages {
                let event = crate::tiktok::convert::convert(m, 0);
                assert!(
                    !matches!(event, Event::Raw(_)),
                    "demo message {} did not decode",
                    m.method
                );
                if let Event::Gift(g) = &event {
                    final_gifts += usize::from(g.is_final);
                }
                kinds.insert(event.kind());
            }
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            vec!["chat", "gift", "like", "member", "social", "viewer_count"]
        );
        assert!(final_gifts > 0);
    }
}
