//! Decode benchmark (issue 6 a): the synthetic busy-room corpus through the whole reader-side
//! pipeline — PushFrame → gunzip → fetch result → typed messages → events → rows → JSONEachRow
//! bytes — on one thread, against gunzip alone (the floor no decoder can beat), measured side by
//! side in the same run. `cargo bench --bench decode` (or `make bench`); corpus from
//! `BENCH_CORPUS` (default `../shared/bench/webcast_frames.bin`), `BENCH_RUNS` runs (default 5).

use std::hint::black_box;
use std::time::Instant;

use chakal_ingest::clickhouse::row::write_json_line;
use chakal_ingest::replay::CaptureReader;
use chakal_ingest::tiktok::convert::convert;
use chakal_ingest::tiktok::frame::{self, FrameKind};
use chakal_ingest::tiktok::proto::WebcastPushFrame;
use prost::Message;

fn main() {
    let path = std::env::var("BENCH_CORPUS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/bench/webcast_frames.bin"
        )
        .to_string()
    });
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut reader = match CaptureReader::open(std::path::Path::new(&path)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("benchmark corpus not available: {e}");
            return;
        }
    };
    let mut frames = Vec::new();
    while let Some(f) = reader.next_frame().expect("corpus is a valid capture") {
        frames.push(f);
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

    let mut floor = Vec::new();
    let mut full = Vec::new();
    let (mut messages, mut json_bytes, mut inflated) = (0usize, 0usize, 0usize);
    for _ in 0..runs {
        let t = Instant::now();
        inflated = 0;
        for p in &payloads {
            inflated +=
                black_box(frame::gunzip(p, frame::MAX_DECOMPRESSED_BYTES).expect("valid gzip"))
                    .len();
        }
        floor.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let mut out = Vec::with_capacity(1 << 20);
        messages = 0;
        json_bytes = 0;
        for f in &frames {
            let decoded = frame::decode(f).expect("valid frame");
            if let FrameKind::Messages(result) = decoded.kind {
                for m in &result.messages {
                    let event = convert(m, 0);
                    write_json_line(&event, &mut out).expect("row serialises");
                    messages += 1;
                }
            }
            json_bytes += out.len();
            black_box(&out);
            out.clear();
        }
        full.push(t.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (floor_s, full_s) = (median(&mut floor), median(&mut full));
    println!("corpus: {} frames, {messages} messages, {:.1} MB on the wire, {:.1} MB inflated, {:.1} MB JSON out", frames.len(), wire_bytes as f64 / 1e6, inflated as f64 / 1e6, json_bytes as f64 / 1e6);
    println!("| stage (single thread, median of {runs}) | messages/s | MB/s (wire) | seconds |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| gunzip only (floor) | {:.0} | {:.1} | {floor_s:.3} |",
        messages as f64 / floor_s,
        wire_bytes as f64 / 1e6 / floor_s
    );
    println!(
        "| decode → rows → JSONEachRow | {:.0} | {:.1} | {full_s:.3} |",
        messages as f64 / full_s,
        wire_bytes as f64 / 1e6 / full_s
    );
    println!("decode ÷ floor = {:.2}", floor_s / full_s);
}
