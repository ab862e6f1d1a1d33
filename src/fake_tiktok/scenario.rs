//! What a fake TikTok instance does wrong, and when: dropped sockets, stream ends, malformed
//! frames, stalls, sign-server rate limits, refused handshakes, offline users, age-restricted
//! rooms. A `Scenario` is plain data, built in code by tests or parsed from the binary's
//! `--scenario` flag; the HTTP and socket halves read it.
//!
//! Must not touch: sockets, HTTP, the recording.

use std::time::Duration;

/// Everything that deviates from a healthy live room. `Scenario::default()` is a healthy room.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenario {
    /// Drop each room's first accepted socket after it has sent this many stream frames: the TCP
    /// stream ends with no close frame (the fake half-closes it, so the client still reads every
    /// frame sent and its last ACKs are still recorded).
    pub drop_after: Option<usize>,
    /// Drop *every* accepted socket after it has sent this many stream frames (a room whose
    /// connections keep failing; reliability scenario d).
    pub drop_every: Option<usize>,
    /// On every connection after the first, resend the last this-many delivered frames before
    /// continuing (history replay; the copies carry new log ids, the messages their old msg ids).
    pub replay_on_reconnect: usize,
    /// Once this many stream frames have been delivered, send a `WebcastControlMessage` with
    /// action 3 (stream ended), then a `close` frame, and report the user offline from then on.
    /// `usize::MAX` means "at the end of the capture".
    pub end_after: Option<usize>,
    /// Once this many stream frames have been delivered, send one malformed frame (a `msg` push
    /// frame whose gzip payload is cut short), once.
    pub malformed_after: Option<usize>,
    /// Each room's first accepted socket stops sending anything (frames, heartbeat echoes) after this many
    /// stream frames, but stays open and keeps reading.
    pub stall_after: Option<usize>,
    /// The first this-many sign requests are answered 429 with `Retry-After: retry_after`.
    pub sign_rate_limited: usize,
    /// `Retry-After` of those 429 answers (whole seconds on the wire).
    pub retry_after: Duration,
    /// The first this-many socket handshakes are refused with HTTP 200, `Handshake-Status: 415`,
    /// `Handshake-Msg: DEVICE_BLOCKED`.
    pub refuse_handshakes: usize,
    /// The first this-many room lookups (live page, api-live, check_alive, room info — each
    /// request counts) report the user offline (status 4).
    pub offline_lookups: usize,
    /// `room/info` answers as for an 18+ room (`status_code` 4003110, `data` holding only `prompts`).
    pub age_restricted: bool,
    /// Sent as `Handshake-Options: ping-interval=N` on every accepted handshake.
    pub ping_interval_s: Option<u32>,
}

/// A `--scenario` item that could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("scenario item `{item}` is not understood: {why}; expected comma-separated items from: {SCENARIO_HELP}")]
pub struct ScenarioError {
    item: String,
    why: String,
}

/// The `--scenario` syntax, for usage texts.
pub const SCENARIO_HELP: &str = "drop=N, dropevery=N, replay=K, end=N|eof, malformed=N, stall=N, \
sign429=COUNT[:RETRY_AFTER_S], blocked=COUNT, offline=COUNT, age, ping=SECONDS";

impl Scenario {
    /// Parses `drop=50,replay=5,end=eof,sign429=1:2,…` (see [`SCENARIO_HELP`]); empty is healthy.
    pub fn parse(spec: &str) -> Result<Scenario, ScenarioError> {
        let mut s = Scenario {
            retry_after: Duration::from_secs(1),
            ..Scenario::default()
        };
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let error = |why: &str| ScenarioError {
                item: item.to_string(),
                why: why.to_string(),
            };
            let count = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| error("the value is not a whole number"))
            };
            match key {
                "drop" => s.drop_after = Some(count(value)?),
                "dropevery" => s.drop_every = Some(count(value)?),
                "replay" => s.replay_on_reconnect = count(value)?,
                "end" if value == "eof" => s.end_after = Some(usize::MAX),
                "end" => s.end_after = Some(count(value)?),
                "malformed" => s.malformed_after = Some(count(value)?),
                "stall" => s.stall_after = Some(count(value)?),
                "sign429" => {
                    let (n, secs) = value.split_once(':').unwrap_or((value, "1"));
                    s.sign_rate_limited = count(n)?;
                    s.retry_after = Duration::from_secs(count(secs)? as u64);
                }
                "blocked" => s.refuse_handshakes = count(value)?,
                "offline" => s.offline_lookups = count(value)?,
                "age" if value.is_empty() => s.age_restricted = true,
                "ping" => {
                    let secs = value
                        .parse::<u32>()
                        .map_err(|_| error("the value is not a whole number of seconds"))?;
                    s.ping_interval_s = Some(secs);
                }
                _ => return Err(error("unknown item")),
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_item() {
        let s = Scenario::parse(
            "drop=50, dropevery=20, replay=5,end=eof,malformed=3,stall=7,sign429=2:3,blocked=1,offline=4,age,ping=5",
        )
        .unwrap();
        assert_eq!(
            s,
            Scenario {
                drop_after: Some(50),
                drop_every: Some(20),
                replay_on_reconnect: 5,
                end_after: Some(usize::MAX),
                malformed_after: Some(3),
                stall_after: Some(7),
                sign_rate_limited: 2,
                retry_after: Duration::from_secs(3),
                refuse_handshakes: 1,
                offline_lookups: 4,
                age_restricted: true,
                ping_interval_s: Some(5),
            }
        );
        assert_eq!(Scenario::parse("end=9").unwrap().end_after, Some(9));
        assert_eq!(Scenario::parse("").unwrap().drop_after, None);
    }

    #[test]
    fn rejects_unknown_items_and_bad_numbers() {
        let e = Scenario::parse("drop=x").unwrap_err().to_string();
        assert!(e.contains("`drop=x`") && e.contains("whole number"), "{e}");
        let e = Scenario::parse("explode").unwrap_err().to_string();
        assert!(e.contains("unknown item") && e.contains("sign429="), "{e}");
    }
}
