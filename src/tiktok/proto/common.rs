//! Structures shared by many messages (PROTOCOL.md §5.2): the common header, users with their
//! badges and relations to the host, display texts, images and emotes.
//!
//! Owns: shared wire layouts. Must not touch: conversion (see `tiktok::convert`).

use bytes::Bytes;

/// Field 1 of (almost) every event message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CommonMessageData {
    #[prost(uint64, tag = "2")]
    pub msg_id: u64,
    #[prost(uint64, tag = "3")]
    pub room_id: u64,
    #[prost(int64, tag = "4")]
    pub create_time: i64,
    /// Only its key is read: the pieces hold a second full copy of the user, which decoding
    /// would cost a third of a message's time for nothing.
    #[prost(message, optional, tag = "8")]
    pub display_text: Option<TextKey>,
}

/// The template key of a display `Text` alone (its tag 1); the rest is skipped unread.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TextKey {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
}

/// A display template with its pieces (`key` is the template id, e.g. a follow or share key).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Text {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub default_pattern: Bytes,
    #[prost(message, repeated, tag = "4")]
    pub pieces: Vec<TextPiece>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TextPiece {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(bytes = "bytes", tag = "11")]
    pub string_value: Bytes,
    #[prost(message, optional, tag = "21")]
    pub user_value: Option<TextPieceUser>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TextPieceUser {
    #[prost(message, optional, tag = "1")]
    pub user: Option<User>,
}

/// An image's URL list (tag 1, repeated), of which only the first URL is kept: the rows store
/// one and the others are mirrors of it. Decoded by hand so the rest are skipped unread: events
/// stage −11 % instructions (three avatar URLs and two per badge in every user).
#[derive(Clone, PartialEq, Default, Debug)]
pub struct ImageModel {
    /// `url_list[0]`, when the list has any.
    pub first_url: Option<Bytes>,
}

impl prost::Message for ImageModel {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        if let Some(url) = &self.first_url {
            prost::encoding::bytes::encode(1, url, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        match (tag, &self.first_url) {
            (1, None) => prost::encoding::bytes::merge(
                wire_type,
                self.first_url.insert(Bytes::new()),
                buf,
                ctx,
            ),
            _ => prost::encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.first_url
            .as_ref()
            .map_or(0, |url| prost::encoding::bytes::encoded_len(1, url))
    }

    fn clear(&mut self) {
        self.first_url = None;
    }
}

/// A TikTok user (§5.2). Only the fields the `users` dimension and the event rows need.
#[derive(Clone, PartialEq, prost::Message)]
pub struct User {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(bytes = "bytes", tag = "3")]
    pub nickname: Bytes,
    #[prost(message, optional, tag = "9")]
    pub avatar_thumb: Option<ImageModel>,
    #[prost(bool, tag = "12")]
    pub verified: bool,
    #[prost(message, optional, tag = "22")]
    pub follow_info: Option<FollowInfo>,
    #[prost(message, optional, tag = "23")]
    pub pay_grade: Option<UserHonor>,
    #[prost(message, optional, tag = "24")]
    pub fans_club: Option<FansClubMember>,
    #[prost(message, optional, tag = "32")]
    pub user_attr: Option<UserAttr>,
    #[prost(bytes = "bytes", tag = "38")]
    pub display_id: Bytes,
    #[prost(bytes = "bytes", tag = "46")]
    pub sec_uid: Bytes,
    #[prost(message, repeated, tag = "64")]
    pub badge_list: Vec<BadgeStruct>,
    #[prost(bool, tag = "1029")]
    pub is_follower: bool,
    #[prost(bool, tag = "1090")]
    pub is_subscribe: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FollowInfo {
    #[prost(int64, tag = "1")]
    pub following_count: i64,
    #[prost(int64, tag = "2")]
    pub follower_count: i64,
    /// Relation to the host: 0 none, 1 follower, 2 friends.
    #[prost(int64, tag = "3")]
    pub follow_status: i64,
}

/// Gifter level (`pay_grade`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserHonor {
    #[prost(int32, tag = "6")]
    pub level: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FansClubMember {
    #[prost(message, optional, tag = "1")]
    pub data: Option<FansClubData>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FansClubData {
    #[prost(int32, tag = "2")]
    pub level: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UserAttr {
    #[prost(bool, tag = "2")]
    pub is_admin: bool,
    #[prost(bool, tag = "3")]
    pub is_super_admin: bool,
}

/// A badge shown next to a user (§5.2 `BadgeStruct`); `scene_type` says what it means.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BadgeStruct {
    #[prost(int32, tag = "3")]
    pub scene_type: i32,
    #[prost(message, optional, tag = "12")]
    pub privilege_log_extra: Option<PrivilegeLogExtra>,
    #[prost(message, optional, tag = "20")]
    pub image: Option<BadgeImage>,
    #[prost(message, optional, tag = "21")]
    pub text: Option<BadgeText>,
    #[prost(message, optional, tag = "23")]
    pub combine: Option<BadgeCombine>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PrivilegeLogExtra {
    #[prost(bytes = "bytes", tag = "5")]
    pub level: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BadgeImage {
    #[prost(message, optional, tag = "2")]
    pub image: Option<ImageModel>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BadgeText {
    #[prost(bytes = "bytes", tag = "2")]
    pub key: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BadgeCombine {
    #[prost(message, optional, tag = "2")]
    pub icon: Option<ImageModel>,
}

/// The sender's relation to the host, carried by chat (18), gift (32) and emote chat (5).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserIdentity {
    #[prost(bool, tag = "1")]
    pub is_gift_giver_of_anchor: bool,
    #[prost(bool, tag = "2")]
    pub is_subscriber_of_anchor: bool,
    #[prost(bool, tag = "3")]
    pub is_mutual_following_with_anchor: bool,
    #[prost(bool, tag = "4")]
    pub is_follower_of_anchor: bool,
    #[prost(bool, tag = "5")]
    pub is_moderator_of_anchor: bool,
    #[prost(bool, tag = "6")]
    pub is_anchor: bool,
}

/// A sticker or emote (§5.4 `EmoteModel`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct EmoteModel {
    #[prost(bytes = "bytes", tag = "1")]
    pub emote_id: Bytes,
}

/// The identity fields of the common header alone: what a message of an unknown method (or one
/// that failed to decode) is read for, so nothing deeper in it can fail that reading.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderOnly {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Header>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Header {
    /// Read only when hunting for a header outside field 1 (it names the method).
    #[prost(bytes = "bytes", tag = "1")]
    pub method: Bytes,
    #[prost(uint64, tag = "2")]
    pub msg_id: u64,
    #[prost(uint64, tag = "3")]
    pub room_id: u64,
    #[prost(int64, tag = "4")]
    pub create_time: i64,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// The full layout of an image, as the wire carries it.
    #[derive(Clone, PartialEq, prost::Message)]
    struct WireImage {
        #[prost(bytes = "bytes", repeated, tag = "1")]
        url_list: Vec<Bytes>,
        #[prost(string, tag = "2")]
        uri: String,
    }

    #[test]
    fn image_keeps_the_first_url_only() {
        let wire = |urls: &[&'static str]| WireImage {
            url_list: urls
                .iter()
                .map(|u| Bytes::from_static(u.as_bytes()))
                .collect(),
            uri: "tos/abc".into(),
        };
        let first = |w: WireImage| ImageModel::decode(w.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            first(wire(&[
                "https://a/1.webp",
                "https://b/1.webp",
                "https://c/1.jpeg"
            ]))
            .first_url,
            Some(Bytes::from_static(b"https://a/1.webp"))
        );
        assert_eq!(
            first(wire(&["", "https://b"])).first_url,
            Some(Bytes::new())
        );
        assert_eq!(first(wire(&[])).first_url, None);
        let kept = first(wire(&["https://a", "https://b"]));
        assert_eq!(
            first(WireImage::decode(kept.encode_to_vec().as_slice()).unwrap()),
            kept
        );
    }
}
