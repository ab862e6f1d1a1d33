//! The fake's one port: accepts on a std `TcpListener` (127.0.0.1), one short-lived thread per
//! connection, reads the request head and hands it to the websocket handshake (`socket`) when it
//! asks for an upgrade, else to the HTTP endpoints (`http`), which answer once and close.
//!
//! A hand-rolled HTTP/1.1 reader instead of tiny_http: tiny_http's worker pool can leave a new
//! connection queued behind kept-alive ones for seconds when several clients connect at once,
//! and it cannot send the HTTP 200 handshake refusal TikTok uses.
//!
//! Must not touch: what the endpoints answer, the websocket protocol.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown as TcpShutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{http, socket, Shared};

/// How long a thread blocks at most before looking at the stop flag again.
pub(super) const TICK: Duration = Duration::from_millis(50);
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Accepts connections until the stop flag is set, then joins their threads.
pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    if let Err(e) = listener.set_nonblocking(true) {
        log::error!("fake tiktok listener unusable error={e}");
        return;
    }
    let mut threads = Vec::new();
    while !shared.stop.is_triggered() {
        match listener.accept() {
            Ok((stream, _)) => {
                let s = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("fake-tiktok-conn".into())
                    .spawn(move || serve_connection(stream, &s));
                match spawned {
                    Ok(handle) => threads.push(handle),
                    Err(e) => log::error!("fake tiktok cannot start a connection thread error={e}"),
                }
                threads.retain(|h: &std::thread::JoinHandle<()>| !h.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(TICK / 5),
            Err(e) => {
                log::debug!("fake tiktok accept failed error={e}");
                std::thread::sleep(TICK);
            }
        }
    }
    for handle in threads {
        let _ = handle.join();
    }
}

/// The parsed head of a request.
pub(super) struct RequestHead {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Bytes read after the head (websocket data sent before our answer).
    pub tail: Vec<u8>,
}

impl RequestHead {
    /// The value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(TICK)))
        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
        .and_then(|()| stream.set_nodelay(true));
    if let Err(e) = setup {
        log::debug!("fake tiktok socket setup failed error={e}");
        return;
    }
    let head = match read_head(&mut stream, shared) {
        Ok(head) => head,
        Err(e) => {
            log::debug!("fake tiktok request not read error={e}");
            return;
        }
    };
    let upgrade = head
        .header("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        socket::handshake(stream, head, shared);
    } else {
        let reply = http::route(shared, &head);
        if let Err(e) = stream
            .write_all(&reply.to_bytes())
            .and_then(|()| stream.flush())
        {
            log::debug!("fake tiktok http answer not sent error={e}");
        }
        let _ = stream.shutdown(TcpShutdown::Both);
    }
}

/// Reads the request head (up to the blank line), checking the stop flag between reads.
fn read_head(stream: &mut TcpStream, shared: &Shared) -> std::io::Result<RequestHead> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if shared.stop.is_triggered() || Instant::now() >= deadline || buf.len() > MAX_REQUEST_HEAD
        {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                "no complete request head",
            ));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let (path, query) = split_url(request_line.next().unwrap_or("/"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(RequestHead {
        method,
        path,
        query,
        headers,
        tail: buf[end + 4..].to_vec(),
    })
}

/// Splits a request target into its path and decoded query pairs.
pub(super) fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (percent_decode(path), pairs)
}

/// `%XX` and `+` decoding; invalid escapes are kept literally, invalid UTF-8 replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded() {
        let (path, q) = split_url("/a%20b/?x=1&ua=Mozilla%2F5.0+(X11)&flag&bad=%zz%4");
        assert_eq!(path, "/a b/");
        assert_eq!(
            q,
            vec![
                ("x".into(), "1".into()),
                ("ua".into(), "Mozilla/5.0 (X11)".into()),
                ("flag".into(), "".into()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
    }
}
