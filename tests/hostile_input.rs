//! Issue 5 §5, hostile input never hurts: no byte sequence makes the reader's path panic, and
//! oversized or inflating input is refused and counted.
//!
//! A deterministic mutator (xorshift, seeded per iteration so any failure replays alone) starts
//! from the real frames in the shared fixtures (`frames.bin`, `real_pushframe.bin`) and the
//! synthetic busy-room corpus (`../shared/bench/webcast_frames.bin`), and flips, overwrites,
//! truncates, splices, inserts and duplicates bytes — at three depths: the frame as received,
//! the inflated fetch result (re-gzipped), and one message's payload (re-encoded), so the
//! mutations reach the message decoders and not only the gzip check. Every input goes through
//! `FrameHandler::handle_frame` (frame → gunzip → fetch result → convert → dedupe → channel)
//! and every event that comes out is serialised as its row.
//!
//! Budget: `FUZZ_SECONDS` (default 20) of wall time; `make fuzz` runs it for longer. A panic
//! names the seed to replay (`FUZZ_SEED=<seed>`) and saves the input to `target/tmp/`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chakal_ingest::clickhouse::row::write_json_line;
use chakal_ingest::metrics::Metrics;
use chakal_ingest::pipe::EventSender;
use chakal_ingest::replay::CaptureReader;
use chakal_ingest::tiktok::frame::{self, gzip, FrameKind, MAX_DECOMPRESSED_BYTES};
use chakal_ingest::tiktok::handler::FrameHandler;
use chakal_ingest::tiktok::proto::{ProtoMessageFetchResult, PushHeader, WebcastPushFrame};
use crossbeam_channel::Receiver;
use prost::Message;

fn shared_dir() -> PathBuf {
    std::env::var_os("FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"))
        .join("..")
}

fn capture(path: &Path, limit: usize) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let Ok(mut reader) = CaptureReader::open(path) else {
        return frames;
    };
    while let Ok(Some(frame)) = reader.next_frame() {
        frames.push(frame);
        if frames.len() >= limit {
            break;
        }
    }
    frames
}

/// The seed corpus: real captured frames first, then the synthetic corpus.
fn corpus() -> Vec<Vec<u8>> {
    let shared = shared_dir();
    let mut frames = capture(&shared.join("fixtures/frames.bin"), usize::MAX);
    if let Ok(one) = std::fs::read(shared.join("fixtures/real_pushframe.bin")) {
        frames.push(one);
    }
    frames.extend(capture(&shared.join("bench/webcast_frames.bin"), 300));
    assert!(
        frames.len() > 100,
        "the fixture frames are missing: set FIXTURES_DIR to the shared fixtures folder"
    );
    frames
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = &[0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x1f, 0x8b];

/// One byte-level mutation of `data`, using `other` for splices.
fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let len = data.len();
    match rng.below(9) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                if !data.is_empty() {
                    let i = rng.below(data.len());
                    data[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            for _ in 0..1 + rng.below(4) {
                if !data.is_empty() {
                    let i = rng.below(data.len());
                    data[i] = INTERESTING[rng.below(INTERESTING.len())];
                }
            }
        }
        2 => data.truncate(rng.below(len + 1)),
        3 => {
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        4 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(at..at, bytes);
        }
        5 => {
            if len > 0 {
                let from = rng.below(len);
                let to = from + rng.below(len - from) + 1;
                let copy = data[from..to].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
        }
        6 => {
            // A huge varint where a length or tag is expected.
            let at = rng.below(len + 1);
            data.splice(
                at..at,
                [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            );
        }
        7 => {
            if len > 1 {
                let from = rng.below(len);
                let to = from + rng.below(len - from);
                data.drain(from..to);
            }
        }
        _ => {
            let n = rng.below(64);
            *data = (0..n).map(|_| rng.next() as u8).collect();
        }
    }
}

/// The frame's fetch result, inflated if it was gzip'd.
fn fetch_result(push: &WebcastPushFrame) -> Option<Vec<u8>> {
    if push.payload.starts_with(&[0x1f, 0x8b]) {
        frame::gunzip(&push.payload, MAX_DECOMPRESSED_BYTES).ok()
    } else {
        Some(push.payload.clone())
    }
}

/// A mutated frame: at the surface, in the inflated fetch result, or in one message payload.
fn mutant(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let base = &corpus[rng.below(corpus.len())];
    let other = &corpus[rng.below(corpus.len())];
    let depth = rng.below(3);
    let rounds = 1 + rng.below(3);
    let push = WebcastPushFrame::decode(base.as_slice()).ok();
    match (depth, push) {
        (1, Some(mut push)) => {
            let Some(mut inner) = fetch_result(&push) else {
                return base.clone();
            };
            for _ in 0..rounds {
                mutate_bytes(rng, &mut inner, other);
            }
            push.payload = if rng.below(4) == 0 {
                inner
            } else {
                gzip(&inner)
            };
            push.encode_to_vec()
        }
        (2, Some(mut push)) => {
            let Some(mut result) = fetch_result(&push)
                .and_then(|b| ProtoMessageFetchResult::decode(b.as_slice()).ok())
            else {
                return base.clone();
            };
            if result.messages.is_empty() {
                return base.clone();
            }
            let i = rng.below(result.messages.len());
            let donor = result.messages[rng.below(result.messages.len())]
                .payload
                .clone();
            let mut payload = result.messages[i].payload.to_vec();
            for _ in 0..rounds {
                mutate_bytes(rng, &mut payload, &donor);
            }
            result.messages[i].payload = payload.into();
            if rng.below(8) == 0 {
                // The same payload under another method's name.
                let j = rng.below(result.messages.len());
                result.messages[i].method = result.messages[j].method.clone();
            }
            push.headers = vec![PushHeader {
                key: "compress_type".into(),
                value: "gzip".into(),
            }];
            push.payload = gzip(&result.encode_to_vec());
            push.encode_to_vec()
        }
        _ => {
            let mut data = base.clone();
            for _ in 0..rounds {
                mutate_bytes(rng, &mut data, other);
            }
            data
        }
    }
}

/// Runs one input through the reader's whole path and serialises every event as its row.
fn run_one(
    handler: &mut FrameHandler,
    sender: &EventSender,
    rx: &Receiver<Box<chakal_ingest::event::Event>>,
    input: &[u8],
) -> usize {
    let _ = frame::decode(input);
    handler
        .handle_frame(input, sender, &mut || {})
        .expect("the channel is open");
    let mut events = 0;
    let mut line = Vec::new();
    while let Ok(event) = rx.try_recv() {
        line.clear();
        write_json_line(&event, &mut line);
        events += 1;
    }
    events
}

#[test]
fn no_byte_sequence_panics_the_reader_path() {
    let budget = Duration::from_secs(
        std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );
    let only_seed: Option<u64> = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok());
    let corpus = corpus();
    let metrics = Arc::new(Metrics::new());
    let (tx, rx) = crossbeam_channel::bounded(100_000);
    let sender = EventSender::events(tx, metrics.clone());
    let mut handler = FrameHandler::new(1, metrics.clone());

    // Every seed frame decodes as it is.
    for frame in &corpus {
        run_one(&mut handler, &sender, &rx, frame);
    }

    let started = Instant::now();
    let (mut iterations, mut events) = (0u64, 0usize);
    let seeds: Box<dyn Iterator<Item = u64>> = match only_seed {
        Some(seed) => Box::new(std::iter::once(seed)),
        None => Box::new(1..),
    };
    for seed in seeds {
        if only_seed.is_none() && started.elapsed() >= budget {
            break;
        }
        if seed % 500 == 0 {
            // A fresh dedupe now and then, so mutated messages keep reaching the row code.
            handler = FrameHandler::new(1, metrics.clone());
        }
        let mut rng = Rng::new(seed);
        let input = mutant(&mut rng, &corpus);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            run_one(&mut handler, &sender, &rx, &input)
        }));
        match outcome {
            Ok(n) => events += n,
            Err(_) => {
                let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
                let saved = dir.join(format!("fuzz-crash-{seed}.bin"));
                let _ = std::fs::write(&saved, &input);
                panic!(
                    "seed {seed} panicked ({} bytes, saved to {}); replay with FUZZ_SEED={seed}",
                    input.len(),
                    saved.display()
                );
            }
        }
        iterations += 1;
    }
    let invalid: u64 = metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("chakal_frames_invalid_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    println!(
        "fuzz: {iterations} mutants in {:.1} s, {events} events serialised, {invalid} frames refused",
        started.elapsed().as_secs_f64()
    );
    assert!(iterations > 0);
    if only_seed.is_none() {
        assert!(events > 0, "mutants should still produce events");
        assert!(invalid > 0, "mutants should produce invalid frames too");
    }
}

#[test]
fn oversized_and_inflating_frames_are_refused_and_counted() {
    let metrics = Arc::new(Metrics::new());
    let (tx, _rx) = crossbeam_channel::bounded(10);
    let sender = EventSender::events(tx, metrics.clone());
    let mut handler = FrameHandler::new(1, metrics.clone());

    // A gzip bomb: 17 MiB of zeros, a few KiB on the wire.
    let bomb = WebcastPushFrame {
        payload_type: "msg".into(),
        headers: vec![PushHeader {
            key: "compress_type".into(),
            value: "gzip".into(),
        }],
        payload: gzip(&vec![0u8; MAX_DECOMPRESSED_BYTES + 1024 * 1024]),
        ..Default::default()
    }
    .encode_to_vec();
    assert!(bomb.len() < 64 * 1024);
    let outcome = handler.handle_frame(&bomb, &sender, &mut || {}).unwrap();
    assert_eq!(outcome.new_messages, 0);

    let huge = vec![0x0au8; frame::MAX_FRAME_BYTES + 1];
    handler.handle_frame(&huge, &sender, &mut || {}).unwrap();

    let text = metrics.render();
    for kind in ["too_large", "frame_too_large"] {
        assert!(
            text.contains(&format!("chakal_frames_invalid_total{{kind=\"{kind}\"}} 1")),
            "{kind} not counted:\n{text}"
        );
    }
    assert!(matches!(
        frame::decode(&bomb),
        Err(frame::DecodeError::TooLarge { .. })
    ));
    assert!(!matches!(
        frame::decode(&bomb),
        Ok(frame::Frame {
            kind: FrameKind::Messages(_),
            ..
        })
    ));
}
