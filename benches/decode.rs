//! Decode benchmark (issue 6 a): the synthetic busy-room corpus through the whole reader-side
//! pipeline — PushFrame → gunzip → fetch result → typed messages → events → rows → JSONEachRow
//! bytes — on one thread, against gunzip alone (the floor no decoder can beat), measured side by
//! side in the same run, with the cumulative stages in between to show where the time goes.
//!
//! `cargo bench --bench decode` (or `make bench`, which also runs `benches/e2e.rs`). Variables:
//! `BENCH_CORPUS` (default `../shared/bench/webcast_frames.bin`), `BENCH_RUNS` (default 7; the
//! median is reported), `BENCH_QUICK=1` (one run over the first 200 frames: proves the benchmark
//! still works, in seconds, without meaning anything as a number).
//!
//! Prints a Markdown table on stdout and, when `BENCH_SUMMARY` names a file, one line per figure
//! (`key value`) there for `benches/e2e.rs` to put in the combined table.

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
                write_json_line(&convert(m, 0), &mut out).expect("row serialises");
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

fn main() {
    let path = std::env::var("BENCH_CORPUS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/bench/webcast_frames.bin"
        )
        .to_string()
    });
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let runs: usize = if quick { 1 } else { env_or("BENCH_RUNS", 7) };
    let mut reader = match CaptureReader::open(std::path::Path::new(&path)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("benchmark corpus not available (set BENCH_CORPUS): {e}");
            std::process::exit(2);
        }
    };
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame().expect("corpus is a valid capture") {
        frames.push(f);
        if quick && frames.len() == 200 {
            break;
        }
    }
    let payloads: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            WebcastPushFrame::decode(f.as_slice())
                .expect("valid frame")
                .payload
        })
        .collect();
    let wire_bytes: usize = frames.iter().map(Vec::len).sum();

    let stages: [(&str, &str, Stage); 4] = [
        ("floor", "gunzip only (the floor)", gunzip_only),
        ("fetch", "+ PushFrame, fetch result", fetch_results),
        ("events", "+ typed messages → events", events),
        ("decode", "+ rows → JSONEachRow (the pipeline)", json_rows),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); stages.len()];
    let (mut messages, mut inflated, mut json) = (0, 0, 0);
    // Stages interleaved within each run, so drift on a shared machine hits them alike.
    for _ in 0..runs {
        for (i, (key, _, stage)) in stages.iter().enumerate() {
            let t = Instant::now();
            let (n, bytes) = stage(&frames, &payloads);
            times[i].push(t.elapsed().as_secs_f64());
            match *key {
                "floor" => inflated = bytes,
                "decode" => (messages, json) = (n, bytes),
                _ => {}
            }
        }
    }
    let secs: Vec<f64> = times.into_iter().map(median).collect();
    let floor = secs[0];
    println!(
        "corpus: {} frames, {messages} messages, {:.1} MB on the wire, {:.1} MB inflated, {:.1} MB JSON out{}",
        frames.len(),
        wire_bytes as f64 / 1e6,
        inflated as f64 / 1e6,
        json as f64 / 1e6,
        if quick { " (BENCH_QUICK: one run of 200 frames, figures not meaningful)" } else { "" }
    );
    println!("| decode stage (one thread, cumulative, median of {runs}) | messages/s | MB/s on the wire | ÷ floor |");
    println!("| --- | ---: | ---: | ---: |");
    let mut summary = String::new();
    for ((key, label, _), s) in stages.iter().zip(&secs) {
        let rate = messages as f64 / s;
        let mbps = wire_bytes as f64 / 1e6 / s;
        println!("| {label} | {rate:.0} | {mbps:.1} | {:.2} |", floor / s);
        summary.push_str(&format!(
            "{key}_msgs_per_s {rate:.0}\n{key}_mb_per_s {mbps:.1}\n"
        ));
    }
    summary.push_str(&format!(
        "decode_over_floor {:.3}\nruns {runs}\n",
        floor / secs[3]
    ));
    println!("decode ÷ floor = {:.2}", floor / secs[3]);
    if let Ok(file) = std::env::var("BENCH_SUMMARY") {
        std::fs::write(&file, summary).unwrap_or_else(|e| panic!("writing {file}: {e}"));
    }
}
