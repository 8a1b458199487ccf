//! The access log, off the request path.
//!
//! A request hands its figures ([`Record`]) to a bounded queue and goes on;
//! one background thread formats the lines (the same text or JSON shape as
//! every other log line) and writes them to stderr in batches. When the
//! queue is full the line is dropped and counted
//! (`dsg_access_log_dropped_lines_total`) instead of making the request
//! wait. [`flush`] (called when the server stops) waits until every line
//! queued before it is written.
//!
//! The writer is process-wide, like the `tracing` subscriber whose filter
//! decides whether the access log is on (target `dsg::access`, level
//! `info`): the binary [`install`]s it when it sets up logging; without it
//! (an in-process test server) no line is written.

use std::io::Write;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, Method};

/// Lines the queue holds before new ones are dropped.
pub const QUEUE_LINES: usize = 16_384;

/// The figures of one served request. A record holds copies, not views
/// into the request: a view would keep the connection's read buffer alive
/// until the writer thread got round to the line, and the connection would
/// need a new buffer for every request.
#[derive(Debug)]
pub struct Record {
    /// When the response was ready.
    pub at: SystemTime,
    /// Request method.
    pub method: Method,
    /// Request path (never the query: it may hold a token).
    pub path: LoggedPath,
    /// Response status.
    pub status: u16,
    /// Time to the response headers, µs.
    pub latency_us: u64,
    /// The request id.
    pub request_id: LoggedId,
    /// The client address ([`crate::http::forwarded`]).
    pub client: Option<IpAddr>,
}

/// A request path, held inline when short (as API paths are), so queueing
/// it allocates nothing the writer thread would have to free.
#[derive(Debug, Clone)]
pub struct LoggedPath(smallvec::SmallVec<[u8; 64]>);

impl LoggedPath {
    /// A copy of `path`.
    pub fn of(path: &str) -> Self {
        Self(smallvec::SmallVec::from_slice(path.as_bytes()))
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        // Copied whole from a `&str`, so always valid.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A request id as the log holds it.
#[derive(Debug, Clone)]
pub enum LoggedId {
    /// One this process made, spelt out by the writer.
    Fresh(uuid::Uuid),
    /// The caller's own.
    Given(HeaderValue),
    /// None could be settled.
    None,
}

impl std::fmt::Display for LoggedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fresh(id) => id.hyphenated().fmt(f),
            Self::Given(v) => f.write_str(v.to_str().unwrap_or_default()),
            Self::None => Ok(()),
        }
    }
}

/// Line shapes, as `log.format` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `2026-12-07T18:13:23.123456Z  INFO dsg::access: request method=GET …`
    Text,
    /// One JSON object per line, keys as `tracing`'s JSON lines.
    Json,
}

enum Message {
    Line(Record),
    Flush(SyncSender<()>),
}

struct Writer {
    queue: SyncSender<Message>,
    dropped: AtomicU64,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

/// Starts the background writer to stderr. Later calls change nothing.
///
/// # Errors
/// The thread could not be started.
pub fn install(format: Format) -> std::io::Result<()> {
    install_to(format, Box::new(std::io::stderr()))
}

fn install_to(format: Format, out: Box<dyn Write + Send>) -> std::io::Result<()> {
    if WRITER.get().is_some() {
        return Ok(());
    }
    let (queue, rx) = std::sync::mpsc::sync_channel(QUEUE_LINES);
    std::thread::Builder::new()
        .name("dsg-access-log".into())
        .spawn(move || drain(&rx, format, out))?;
    let _ = WRITER.set(Writer {
        queue,
        dropped: AtomicU64::new(0),
    });
    Ok(())
}

/// Whether a line would be written: a writer is installed and the log
/// filter lets `dsg::access` through at `info`.
pub fn enabled() -> bool {
    WRITER.get().is_some() && tracing::enabled!(target: "dsg::access", tracing::Level::INFO)
}

/// Queues one line; never waits. A full queue drops it and counts it.
pub fn record(r: Record) {
    let Some(w) = WRITER.get() else {
        return;
    };
    match w.queue.try_send(Message::Line(r)) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            w.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Lines dropped because the queue was full, since the process started.
pub fn dropped() -> u64 {
    WRITER
        .get()
        .map_or(0, |w| w.dropped.load(Ordering::Relaxed))
}

/// Waits (at most `limit`) until every line queued before this call is
/// written and stderr flushed. Returns whether that happened in time.
pub fn flush(limit: Duration) -> bool {
    let Some(w) = WRITER.get() else {
        return true;
    };
    let (done, wait) = std::sync::mpsc::sync_channel(1);
    let deadline = std::time::Instant::now() + limit;
    let mut msg = Message::Flush(done);
    // A full queue: retry until there is room (the writer is emptying it).
    loop {
        match w.queue.try_send(msg) {
            Ok(()) => break,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(m)) => {
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                msg = m;
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    !matches!(wait.recv_timeout(left), Err(RecvTimeoutError::Timeout))
}

/// How long the writer lets lines gather while requests keep coming.
const BATCH_WAIT: Duration = Duration::from_millis(20);

/// The writer thread. Idle, it blocks for the next line (one wake-up); busy,
/// it sleeps [`BATCH_WAIT`] between batches instead, so a request queueing
/// a line never has to wake it (no system call on the request path).
fn drain(rx: &Receiver<Message>, format: Format, out: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut line = Vec::with_capacity(512);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        loop {
            let mut wrote = false;
            while let Some(m) = next {
                wrote = true;
                match m {
                    Message::Line(r) => {
                        line.clear();
                        write_line(&mut line, &r, format);
                        // A failing stderr has nowhere to report to.
                        let _ = out.write_all(&line);
                    }
                    Message::Flush(done) => {
                        let _ = out.flush();
                        let _ = done.try_send(());
                    }
                }
                next = rx.try_recv().ok();
            }
            let _ = out.flush();
            if !wrote {
                break;
            }
            std::thread::sleep(BATCH_WAIT);
            next = rx.try_recv().ok();
        }
    }
}

/// Formats one line, newline included.
fn write_line(buf: &mut Vec<u8>, r: &Record, format: Format) {
    let at = timestamp(r.at);
    let id = &r.request_id;
    match format {
        Format::Text => {
            let _ = write!(
                buf,
                "{at}  INFO dsg::access: request method={} path={} status={} latency_us={} request_id={id}",
                r.method,
                r.path.as_str(),
                r.status,
                r.latency_us
            );
            if let Some(c) = r.client {
                let _ = write!(buf, " client={c}");
            }
            buf.push(b'\n');
        }
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Fields<'a> {
                message: &'static str,
                method: &'a str,
                path: &'a str,
                status: u16,
                latency_us: u64,
                request_id: String,
                #[serde(skip_serializing_if = "Option::is_none")]
                client: Option<String>,
            }
            #[derive(serde::Serialize)]
            struct Line<'a> {
                timestamp: &'a str,
                level: &'static str,
                fields: Fields<'a>,
                target: &'static str,
            }
            let l = Line {
                timestamp: &at,
                level: "INFO",
                fields: Fields {
                    message: "request",
                    method: r.method.as_str(),
                    path: r.path.as_str(),
                    status: r.status,
                    latency_us: r.latency_us,
                    request_id: id.to_string(),
                    client: r.client.map(|c| c.to_string()),
                },
                target: "dsg::access",
            };
            let _ = serde_json::to_writer(&mut *buf, &l);
            buf.push(b'\n');
        }
    }
}

/// RFC 3339 in UTC with microseconds, as the other log lines print it.
fn timestamp(at: SystemTime) -> String {
    let t = time::OffsetDateTime::from(at);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_667_203_000_042),
            method: Method::GET,
            path: LoggedPath::of("/api/v1/user/cache"),
            status: 200,
            latency_us: 35,
            request_id: LoggedId::Given(HeaderValue::from_static("req-\"7\"")),
            client: Some("127.0.0.1".parse().unwrap()),
        }
    }

    #[test]
    fn text_lines_look_like_the_other_log_lines_and_omit_the_query() {
        let mut buf = Vec::new();
        write_line(&mut buf, &sample(), Format::Text);
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(
            s,
            "2026-12-07T18:13:23.000042Z  INFO dsg::access: request method=GET \
             path=/api/v1/user/cache status=200 latency_us=35 request_id=req-\"7\" client=127.0.0.1\n"
        );
    }

    #[test]
    fn long_paths_and_fresh_ids_are_written_whole() {
        let long = format!("/api/v1/{}", "x".repeat(200));
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_8def_8123_4567_89ab_cdef);
        let mut r = sample();
        r.path = LoggedPath::of(&long);
        r.request_id = LoggedId::Fresh(id);
        let mut buf = Vec::new();
        write_line(&mut buf, &r, Format::Text);
        let s = String::from_utf8(buf).unwrap();
        assert!(s.contains(&format!(" path={long} ")), "{s}");
        assert!(
            s.contains(" request_id=01234567-89ab-8def-8123-456789abcdef "),
            "{s}"
        );
    }

    #[test]
    fn json_lines_carry_the_fields_under_fields() {
        let mut buf = Vec::new();
        let mut r = sample();
        r.client = None;
        write_line(&mut buf, &r, Format::Json);
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["timestamp"], "2026-12-07T18:13:23.000042Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "dsg::access");
        assert_eq!(v["fields"]["message"], "request");
        assert_eq!(v["fields"]["path"], "/api/v1/user/cache");
        assert_eq!(v["fields"]["status"], 200);
        assert_eq!(v["fields"]["request_id"], "req-\"7\"");
        assert!(v["fields"].get("client").is_none());
        assert!(!String::from_utf8(buf).unwrap().contains("secret"));
    }

    /// A sink that blocks until released, so the queue fills.
    struct Gate(
        std::sync::Arc<(parking_lot::Mutex<Vec<u8>>, std::sync::Barrier)>,
        bool,
    );
    impl Write for Gate {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if !self.1 {
                self.0.1.wait();
                self.1 = true;
            }
            self.0.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// One test for the process-wide writer: a stalled sink makes the queue
    /// overflow (counted, the caller never waits), and a flush afterwards
    /// writes every line that was queued.
    #[test]
    fn overflow_is_counted_and_flush_writes_everything_queued() {
        let shared = std::sync::Arc::new((
            parking_lot::Mutex::new(Vec::new()),
            std::sync::Barrier::new(2),
        ));
        install_to(Format::Text, Box::new(Gate(shared.clone(), false))).unwrap();
        let total = QUEUE_LINES + 5_000;
        for _ in 0..total {
            record(sample());
        }
        // Beyond the queue the writer holds at most its 64 KiB buffer.
        assert!(dropped() > 0, "nothing dropped");
        shared.1.wait();
        assert!(flush(Duration::from_secs(60)));
        let written = shared.0.lock().iter().filter(|b| **b == b'\n').count() as u64;
        assert_eq!(written + dropped(), total as u64);
    }
}
