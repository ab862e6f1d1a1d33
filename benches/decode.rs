//! Decode benchmark (issue 6 a): the synthetic busy-room corpus through the whole reader-side
//! pipeline — PushFrame → gunzip → fetch result → typed messages → events → rows → JSONEachRow
//! bytes — on one thread, against gunzip alone (the floor no decoder can beat), measured side by
//! side in the same run, with the cumulative stages in between to show where the time goes.
//!
//! `cargo bench --bench decode` runs it alone; `make bench` runs it inside `benches/e2e`, which
//! includes this file, so every figure of the combined table comes from the same run.
//! Variables: `BENCH_CORPUS` (default `../shared/bench/webcast_frames.bin`), `BENCH_RUNS`
//! (default 7; medians are reported), `BENCH_QUICK=1` (one run over the first 200 frames:
//! proves the benchmark still works, in seconds, without meaning anything as a number).

use std::hint::black_box;
use std::time::Instant;

use chakal_ingest::clickhouse::row::write_json_line;
use chakal_ingest::replay::CaptureReader;
use chakal_ingest::tiktok::convert::convert;
use chakal_ingest::tiktok::frame::{self, FrameKind};
use chakal_ingest::tiktok::proto::WebcastPushFrame;
use prost::Message;

/// One pass of a stage over the corpus; returns (messages, output bytes) so nothing is optimised away.
type Stage = fn(&[Vec<u8>], &[Vec<u8>]) -> (usize, usize);

fn gunzip_only(_frames: &[Vec<u8>], payloads: &[Vec<u8>]) -> (usize, usize) {
    let mut inflated = 0;
    for p in payloads {
        let out = frame::gunzip(p, frame::MAX_DECOMPRESSED_BYTES).expect("valid gzip");
        inflated += black_box(out).len();
    }
    (0, inflated)
}

fn fetch_results(frames: &[Vec<u8>], _payloads: &[Vec<u8>]) -> (usize, usize) {
    let mut messages = 0;
    for f in frames {
        if let FrameKind::Messages(result) = frame::decode(f).expect("valid frame").kind {
            messages += black_box(result).messages.len();
        }
    }
    (messages, 0)
}

fn events(frames: &[Vec<u8>], _payloads: &[Vec<u8>]) -> (usize, usize) {
    let mut messages = 0;
    for f in frames {
        if let FrameKind::Messages(result) = frame::decode(f).expect("valid frame").kind {
            for m in &result.messages {
                black_box(convert(m, 0));
                messages += 1;
            }
        }
    }
    (messages, 0)
}

fn json_rows(frames: &[Vec<u8>], _payloads: &[Vec<u8>]) -> (usize, usize) {
    let (mut messages, mut bytes) = (0, 0);
    let mut out = Vec::with_capacity(1 << 20);
    for f in frames {
        if let FrameKind::Messages(result) = frame::decode(f).expect("valid frame").kind {
            for m in &result.messages {
                write_json_line(&convert(m, 0), &mut out);
                messages += 1;
            }
        }
        bytes += black_box(&out).len();
        out.clear();
    }
    (messages, bytes)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The corpus file: `BENCH_CORPUS`, else `../shared/bench/webcast_frames.bin` beside the crate.
pub fn corpus_path() -> std::path::PathBuf {
    std::env::var_os("BENCH_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/bench/webcast_frames.bin")
        })
}

/// Every frame of the corpus (the first 200 with `quick`); exits with status 2 naming
/// `BENCH_CORPUS` when it cannot be read.
pub fn load_corpus(quick: bool) -> Vec<Vec<u8>> {
    let path = corpus_path();
    let mut reader = CaptureReader::open(&path).unwrap_or_else(|e| {
        eprintln!("benchmark corpus not available (set BENCH_CORPUS): {e}");
        std::process::exit(2);
    });
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame().expect("corpus is a valid capture") {
        frames.push(f);
        if quick && frames.len() == 200 {
            break;
        }
    }
    frames
}

/// The decode figures of one benchmark run.
pub struct Decode {
    pub runs: usize,
    pub frames: usize,
    pub messages: usize,
    pub wire_bytes: usize,
    pub inflated_bytes: usize,
    pub json_bytes: usize,
    /// `(key, label, median seconds)` of each cumulative stage, the floor first.
    pub stages: Vec<(&'static str, &'static str, f64)>,
}

impl Decode {
    pub fn msgs_per_s(&self, stage: usize) -> f64 {
        self.messages as f64 / self.stages[stage].2
    }

    pub fn wire_mb_per_s(&self, stage: usize) -> f64 {
        self.wire_bytes as f64 / 1e6 / self.stages[stage].2
    }

    /// The whole pipeline's speed as a fraction of gunzip's.
    pub fn over_floor(&self) -> f64 {
        self.stages[0].2 / self.stages[self.stages.len() - 1].2
    }
}

/// Runs every stage `runs` times over `frames` (stages interleaved within each run, so drift
/// on a shared machine hits them alike) and keeps the medians.
pub fn measure(frames: &[Vec<u8>], runs: usize) -> Decode {
    let payloads: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            WebcastPushFrame::decode(f.as_slice())
                .expect("valid frame")
                .payload
        })
        .collect();
    let stages: [(&str, &str, Stage); 4] = [
        ("floor", "gunzip only (the floor)", gunzip_only),
        ("fetch", "+ PushFrame, fetch result", fetch_results),
        ("events", "+ typed messages → events", events),
        ("decode", "+ rows → JSONEachRow (the pipeline)", json_rows),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); stages.len()];
    let (mut messages, mut inflated, mut json) = (0, 0, 0);
    for _ in 0..runs.max(1) {
        for (i, (key, _, stage)) in stages.iter().enumerate() {
            let t = Instant::now();
            let (n, bytes) = stage(frames, &payloads);
            times[i].push(t.elapsed().as_secs_f64());
            match *key {
                "floor" => inflated = bytes,
                "decode" => (messages, json) = (n, bytes),
                _ => {}
            }
        }
    }
    Decode {
        runs: runs.max(1),
        frames: frames.len(),
        messages,
        wire_bytes: frames.iter().map(Vec::len).sum(),
        inflated_bytes: inflated,
        json_bytes: json,
        stages: stages
            .iter()
            .zip(times)
            .map(|((key, label, _), t)| (*key, *label, median(t)))
            .collect(),
    }
}

/// The stage table in Markdown.
pub fn table(d: &Decode) -> String {
    let mut out = format!(
        "corpus: {} frames, {} messages, {:.1} MB on the wire, {:.1} MB inflated, {:.1} MB JSON out\n",
        d.frames,
        d.messages,
        d.wire_bytes as f64 / 1e6,
        d.inflated_bytes as f64 / 1e6,
        d.json_bytes as f64 / 1e6
    );
    out.push_str(&format!(
        "| decode stage (one thread, cumulative, median of {}) | messages/s | MB/s on the wire | ÷ floor |\n| --- | ---: | ---: | ---: |\n",
        d.runs
    ));
    for (i, (_, label, s)) in d.stages.iter().enumerate() {
        out.push_str(&format!(
            "| {label} | {:.0} | {:.1} | {:.2} |\n",
            d.msgs_per_s(i),
            d.wire_mb_per_s(i),
            d.stages[0].2 / s
        ));
    }
    out
}

#[allow(dead_code)] // `benches/e2e` includes this file for `measure`; main runs when built alone
fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let frames = load_corpus(quick);
    let d = measure(&frames, if quick { 1 } else { env_or("BENCH_RUNS", 7) });
    print!("{}", table(&d));
    println!("decode ÷ floor = {:.2}", d.over_floor());
}
