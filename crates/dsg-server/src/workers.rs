//! Serving HTTP on one single-threaded runtime per core.
//!
//! One acceptor takes connections off the listener and hands each to the
//! worker thread holding the fewest open connections; a worker runs its own
//! current-thread Tokio runtime and serves its connections from start to
//! end. No request ever moves between threads, so the hot path pays for no
//! cross-thread wake-up or work stealing: on the benchmark machine this is
//! what brought one process close to two (`bench/results-hot-path.md`).
//! Shared state (cache, pools, metrics) is the same `AppState` for all.
//! Background tasks stay on the main runtime.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// What every worker serves: the whole router, told each peer's address.
pub type Service = axum::extract::connect_info::IntoMakeServiceWithConnectInfo<
    crate::http::prefix::Rewritten,
    SocketAddr,
>;

/// Connections a worker's hand-off queue holds before the acceptor waits.
const HANDOFF_QUEUE: usize = 1024;

/// An accepted connection on its way to a worker.
type Handed = (std::net::TcpStream, SocketAddr, Arc<AtomicUsize>);

/// How many worker threads `server.workers` asks for (0: one per core).
pub fn count(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }
}

/// The worker threads and the queues that feed them.
pub struct Workers {
    queues: Vec<(mpsc::Sender<Handed>, Arc<AtomicUsize>)>,
    threads: Vec<std::thread::JoinHandle<std::io::Result<()>>>,
    close: watch::Sender<bool>,
}

impl Workers {
    /// Starts `n` worker threads, each serving `service` (the router with
    /// the peer address as `ConnectInfo`); `local` is the listener's address.
    ///
    /// # Errors
    /// A thread or its runtime could not be started.
    pub fn start(n: usize, service: &Service, local: SocketAddr) -> std::io::Result<Self> {
        let (close, _) = watch::channel(false);
        let mut queues = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = mpsc::channel(HANDOFF_QUEUE);
            let open = Arc::new(AtomicUsize::new(0));
            queues.push((tx, open));
            let service = service.clone();
            let mut closing = close.subscribe();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            threads.push(
                std::thread::Builder::new()
                    .name(format!("dsg-http-{i}"))
                    .spawn(move || {
                        runtime.block_on(async move {
                            // The no-op tap gives the listener axum's
                            // `ConnectInfo<SocketAddr>` for any address type.
                            let listener = Handoff { rx, local }.tap_io(keep as fn(&mut Counted));
                            axum::serve(listener, service)
                                .with_graceful_shutdown(async move {
                                    let _ = closing.wait_for(|c| *c).await;
                                })
                                .await
                        })
                    })?,
            );
        }
        Ok(Self {
            queues,
            threads,
            close,
        })
    }

    /// Accepts connections until the future is dropped, handing each to the
    /// least busy worker (ties: the lowest-numbered).
    pub async fn accept(&self, listener: &TcpListener) {
        loop {
            let (tcp, addr) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then retry.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Small JSON answers must not wait on Nagle's algorithm.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
            let tcp = match tcp.into_std() {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(error = %e, "connection lost before hand-off");
                    continue;
                }
            };
            let Some((queue, open)) = self
                .queues
                .iter()
                .min_by_key(|(_, open)| open.load(Ordering::Relaxed))
            else {
                return;
            };
            open.fetch_add(1, Ordering::Relaxed);
            // A worker that stopped drops the connection (and its count).
            let _ = queue.send((tcp, addr, open.clone())).await;
        }
    }

    /// Lets every worker finish its in-flight requests and waits for them.
    ///
    /// # Errors
    /// The first server error a worker ended with.
    pub async fn finish(self) -> std::io::Result<()> {
        let Self {
            queues,
            threads,
            close,
        } = self;
        drop(queues);
        let _ = close.send(true);
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("an HTTP worker panicked")))
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(std::io::Error::other)?;
        joined.into_iter().collect()
    }
}

fn keep(_: &mut Counted) {}

/// The listener side of a worker: connections arrive from the acceptor.
struct Handoff {
    rx: mpsc::Receiver<Handed>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handoff {
    type Io = Counted;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Some((tcp, addr, open)) = self.rx.recv().await else {
                // The acceptor is gone: nothing more will arrive; the
                // graceful shutdown ends this server.
                return std::future::pending().await;
            };
            let guard = OpenGuard(open);
            match TcpStream::from_std(tcp) {
                Ok(stream) => {
                    return (
                        Counted {
                            stream,
                            _open: guard,
                        },
                        addr,
                    );
                }
                Err(e) => tracing::debug!(error = %e, "handed-off connection not registered"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Counts a worker's open connection until dropped.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection that keeps its worker's count while open.
pub struct Counted {
    stream: TcpStream,
    _open: OpenGuard,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    /// No: hyper then copies a small body behind the headers and sends both
    /// with one `write`, which measured about 5 % faster here than a
    /// two-part `writev` (`bench/results-hot-path.md`).
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Connections spread over the workers by open count, each served to the
    /// end on its worker; `finish` lets them go and returns.
    #[tokio::test]
    async fn connections_go_to_the_least_busy_worker_and_are_served() {
        let router = axum::Router::new().route(
            "/",
            axum::routing::get(|| async { format!("{:?}", std::thread::current().name()) }),
        );
        let rewrite: fn(axum::extract::Request) -> axum::extract::Request = std::convert::identity;
        let service =
            axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                SocketAddr,
            >(tower::ServiceExt::map_request(router, rewrite));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let workers = Workers::start(2, &service, addr).unwrap();
        let answers = async {
            let mut conns = Vec::new();
            for _ in 0..4 {
                conns.push(TcpStream::connect(addr).await.unwrap());
            }
            let mut threads = Vec::new();
            for c in &mut conns {
                c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
                let mut buf = vec![0u8; 1024];
                let n = c.read(&mut buf).await.unwrap();
                let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
                assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
                threads.push(reply.contains("dsg-http-0"));
            }
            let open: Vec<usize> = workers
                .queues
                .iter()
                .map(|(_, n)| n.load(Ordering::Relaxed))
                .collect();
            (threads, open)
        };
        let (threads, open) = tokio::select! {
            () = workers.accept(&listener) => unreachable!("the acceptor runs until dropped"),
            r = answers => r,
        };
        assert_eq!(open, vec![2, 2]);
        assert_eq!(threads.iter().filter(|on_first| **on_first).count(), 2);
        workers.finish().await.unwrap();
    }
}
