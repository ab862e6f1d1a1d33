//! Issue 4 (requirement 5): our converter against the reference decoder, field by field.
//!
//! `messages.ndjson` holds 1799 real captured messages (`payload_b64` = the body of one
//! `BaseProtoMessage`); `expected.ndjson` holds, for each of the 1602 that TikTokLive 7.0.1
//! decodes, its key fields as that client reports them, in the same order (see the fixtures'
//! README). Every message must become a typed event or `Event::Raw` (never lost), and every key
//! field the reference reports must equal ours, except the deliberate differences listed in
//! `DELIBERATE` with their reasons. The match rate is printed.
//!
//! Reads the fixtures in place from FIXTURES_DIR (default `<CARGO_MANIFEST_DIR>/../shared/fixtures`);
//! when the folder is absent the test says why and returns.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chakal_ingest::event::{Event, UserRef};
use chakal_ingest::tiktok::convert::{convert, normalise_time_ms};
use chakal_ingest::tiktok::proto::BaseProtoMessage;
use serde_json::{json, Map, Value};

/// Fields where we report something other than the reference on purpose.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "create_time",
        "we store event_time in ms: a create_time in seconds is multiplied by 1000 and a missing \
         one (0) is taken from the msg id's high 32 bits (Unix seconds), as the fixtures' \
         create_time_ms; compared after the same normalisation",
    ),
    (
        "room_id",
        "a message whose header carries room 0 gets the room of the connection it came from \
         (messages.ndjson's room_id); compared against that room",
    ),
];

fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    if dir.join("messages.ndjson").is_file() && dir.join("expected.ndjson").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: no messages.ndjson/expected.ndjson in {} (set FIXTURES_DIR to the shared fixtures folder)",
            dir.display()
        );
        None
    }
}

fn read_ndjson(path: PathBuf) -> Vec<Map<String, Value>> {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

fn base64_decode(s: &str) -> Vec<u8> {
    fn sextet(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            other => panic!("not base64: {other}"),
        }
    }
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | sextet(c) << (18 - 6 * i));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}

fn string_field(m: &Map<String, Value>, key: &str) -> String {
    match &m[key] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The variant each method must convert to (all others: `Event::Other`).
fn expected_kind(method: &str) -> &'static str {
    match method {
        "WebcastChatMessage" => "chat",
        "WebcastEmoteChatMessage" => "emote_chat",
        "WebcastGiftMessage" => "gift",
        "WebcastLikeMessage" => "like",
        "WebcastMemberMessage" => "member",
        "WebcastSocialMessage" => "social",
        "WebcastRoomUserSeqMessage" => "viewer_count",
        "WebcastControlMessage" => "control",
        "WebcastSubNotifyMessage" => "subscription",
        "WebcastQuestionNewMessage" => "question",
        "WebcastEnvelopeMessage" => "envelope",
        "WebcastPollMessage" => "poll",
        "WebcastGoalUpdateMessage" => "goal",
        "WebcastRankUpdateMessage" => "rank_update",
        "WebcastLinkMicBattle" => "battle",
        "WebcastLinkMicArmies" => "battle_armies",
        "WebcastRoomPinMessage" => "room_pin",
        "WebcastImDeleteMessage" => "im_delete",
        "WebcastLiveIntroMessage" => "live_intro",
        "WebcastRoomMessage"
        | "SystemMessage"
        | "WebcastSystemMessage"
        | "WebcastCaptionMessage"
        | "WebcastNoticeMessage"
        | "WebcastBottomMessage"
        | "WebcastRoomNotifyMessage" => "room_text",
        _ => "other",
    }
}

fn user_fields(out: &mut Map<String, Value>, u: &UserRef) {
    out.insert("user_id".into(), json!(u.id.to_string()));
    out.insert("user_unique_id".into(), json!(u.unique_id));
    out.insert("user_nickname".into(), json!(u.nickname));
}

/// Our values under the reference's key names.
fn our_fields(event: &Event) -> Map<String, Value> {
    let mut out = Map::new();
    match event {
        Event::Chat(e) => {
            user_fields(&mut out, &e.user);
            out.insert("content".into(), json!(e.content));
            out.insert("content_language".into(), json!(e.language));
        }
        Event::EmoteChat(e) => {
            user_fields(&mut out, &e.user);
            out.insert("emote_ids".into(), json!(e.emote_ids));
        }
        Event::Gift(e) => {
            user_fields(&mut out, &e.user);
            out.insert("gift_id".into(), json!(e.gift_id));
            out.insert("gift_name".into(), json!(e.gift_name));
            out.insert("diamond_count".into(), json!(e.diamond_count));
            out.insert("gift_type".into(), json!(e.gift_type));
            out.insert("repeat_count".into(), json!(e.repeat_count));
            out.insert("repeat_end".into(), json!(i32::from(e.repeat_end)));
            out.insert("combo_count".into(), json!(e.combo_count));
            out.insert("group_id".into(), json!(e.group_id.to_string()));
            out.insert("to_user_id".into(), json!(e.to_user_id.to_string()));
        }
        Event::Like(e) => {
            user_fields(&mut out, &e.user);
            out.insert("like_count".into(), json!(e.count));
            out.insert("total_likes".into(), json!(e.total));
        }
        Event::Member(e) => {
            user_fields(&mut out, &e.user);
            out.insert("action".into(), json!(e.action));
            out.insert("member_count".into(), json!(e.member_count));
        }
        Event::Social(e) => {
            user_fields(&mut out, &e.user);
            out.insert("action".into(), json!(e.action));
            out.insert("follow_count".into(), json!(e.follow_count));
            out.insert("share_type".into(), json!(e.share_type));
            out.insert("share_count".into(), json!(e.share_count));
            out.insert("share_target".into(), json!(e.share_target));
        }
        Event::ViewerCount(e) => {
            out.insert("viewer_total".into(), json!(e.viewers));
            out.insert("total_user".into(), json!(e.total_user));
            out.insert("popularity".into(), json!(e.popularity));
            out.insert("top_viewers_count".into(), json!(e.top_viewers.len()));
        }
        Event::Control(e) => {
            out.insert("action".into(), json!(e.action.code()));
        }
        Event::LiveIntro(e) => user_fields(&mut out, &e.user),
        _ => {}
    }
    out
}

#[derive(Default)]
struct Tally {
    compared: usize,
    equal: usize,
    deliberate: BTreeMap<&'static str, usize>,
    mismatches: Vec<String>,
}

#[test]
fn converter_matches_reference_decoder() {
    let Some(dir) = fixtures_dir() else { return };
    let messages = read_ndjson(dir.join("messages.ndjson"));
    let expected = read_ndjson(dir.join("expected.ndjson"));
    let mut next_expected = expected.iter().peekable();
    let mut tally = Tally::default();
    let (mut typed, mut raw, mut raw_errors) = (0usize, 0usize, 0usize);
    let mut referenced = 0usize;

    for msg in &messages {
        let method = string_field(msg, "method");
        let msg_id: u64 = string_field(msg, "msg_id").parse().expect("msg_id");
        let conn_room: u64 = string_field(msg, "room_id").parse().expect("room_id");
        let envelope = BaseProtoMessage {
            method: method.clone(),
            payload: base64_decode(msg["payload_b64"].as_str().expect("payload_b64")).into(),
            msg_id,
            ..Default::default()
        };
        let event = convert(&envelope, conn_room);
        match &event {
            Event::Raw(r) => {
                raw += 1;
                raw_errors += usize::from(r.error.is_some());
                assert_eq!(
                    r.payload,
                    envelope.payload.as_ref(),
                    "raw keeps the payload whole"
                );
            }
            _ => typed += 1,
        }
        assert_eq!(event.meta().msg_id, msg_id, "msg id of {method}");
        assert_eq!(
            event.meta().time_ms,
            msg["create_time_ms"].as_i64().expect("create_time_ms"),
            "time of {method} {msg_id}"
        );

        let Some(want) = next_expected.next_if(|e| {
            string_field(e, "msg_id") == msg_id.to_string() && string_field(e, "method") == method
        }) else {
            continue;
        };
        referenced += 1;
        assert_eq!(
            event.kind(),
            expected_kind(&method),
            "{method} {msg_id} converted to the wrong kind: {event:?}"
        );
        let ours = our_fields(&event);
        for (key, want_value) in want {
            tally.compared += 1;
            let equal = match key.as_str() {
                "method" => *want_value == json!(method),
                "msg_id" => *want_value == json!(event.meta().msg_id.to_string()),
                "room_id" => {
                    let reference: u64 = string_field(want, "room_id").parse().expect("room_id");
                    let room = if reference == 0 { conn_room } else { reference };
                    if reference == 0 {
                        *tally.deliberate.entry("room_id").or_default() += 1;
                    }
                    event.meta().room_id == room
                }
                "create_time" => {
                    let raw = want_value.as_i64().expect("create_time");
                    if normalise_time_ms(raw, msg_id) != raw {
                        *tally.deliberate.entry("create_time").or_default() += 1;
                    }
                    event.meta().time_ms == normalise_time_ms(raw, msg_id)
                }
                other => ours.get(other) == Some(want_value),
            };
            if equal {
                tally.equal += 1;
            } else {
                tally.mismatches.push(format!(
                    "{method} {msg_id} {key}: reference {want_value}, ours {}",
                    ours.get(key.as_str())
                        .map_or("(none)".to_string(), Value::to_string)
                ));
            }
        }
    }

    println!(
        "messages={} typed={typed} raw={raw} (decode errors {raw_errors}) referenced={referenced}",
        messages.len()
    );
    println!(
        "reference fields compared={} equal={} match_rate={:.2}%",
        tally.compared,
        tally.equal,
        100.0 * tally.equal as f64 / tally.compared.max(1) as f64
    );
    for (field, reason) in DELIBERATE {
        println!(
            "deliberate difference `{field}` ({} messages): {reason}",
            tally.deliberate.get(field).copied().unwrap_or(0)
        );
    }
    assert_eq!(typed + raw, messages.len(), "every message is kept");
    assert_eq!(
        referenced,
        expected.len(),
        "every reference decoding lines up with a message"
    );
    assert!(
        tally.mismatches.is_empty(),
        "{} fields differ from the reference:\n{}",
        tally.mismatches.len(),
        tally.mismatches.join("\n")
    );
}
