//! libFuzzer target: one input is one websocket frame as received. It goes through the
//! reader's whole path — `FrameHandler::handle_frame` (size limit → PushFrame → gunzip with
//! its limit → fetch result → convert each message → dedupe → channel) — and every event that
//! comes out is serialised as its row. Any panic is a bug. The corpus is seeded by `make fuzz`
//! with the frames of the shared fixtures and the synthetic corpus.
//!
//! Must not touch: anything but the reader path's public API.
#![no_main]

use std::cell::RefCell;
use std::sync::Arc;

use chakal_ingest::clickhouse::row::write_json_line;
use chakal_ingest::event::Event;
use chakal_ingest::metrics::Metrics;
use chakal_ingest::pipe::EventSender;
use chakal_ingest::tiktok::handler::FrameHandler;
use crossbeam_channel::Receiver;
use libfuzzer_sys::fuzz_target;

struct Path {
    handler: FrameHandler,
    sender: EventSender,
    rx: Receiver<Event>,
    line: Vec<u8>,
}

thread_local! {
    static PATH: RefCell<Path> = RefCell::new({
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = crossbeam_channel::bounded(100_000);
        Path {
            handler: FrameHandler::new(1, metrics.clone()),
            sender: EventSender::new(tx, metrics),
            rx,
            line: Vec::new(),
        }
    });
}

fuzz_target!(|data: &[u8]| {
    PATH.with(|path| {
        let path = &mut *path.borrow_mut();
        path.handler
            .handle_frame(data, &path.sender, &mut || {})
            .expect("the channel is open");
        while let Ok(event) = path.rx.try_recv() {
            path.line.clear();
            write_json_line(&event, &mut path.line).expect("a row always serialises");
        }
    });
});
