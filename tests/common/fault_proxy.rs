//! A fault proxy for the store's connection: a TCP proxy on 127.0.0.1 in front of DynamoDB
//! Local that passes requests through, or, for the requests a test plans, adds latency, cuts
//! the connection before forwarding, swallows the answer of a request it forwarded (the write
//! commits; the gateway never hears back), holds it for ever (a black hole), or refuses every
//! connection for a while (its listener closed, so a connect gets `ECONNREFUSED`). It reads
//! HTTP/1.1 the way the SDK speaks it: one request at a time per connection, so the first bytes
//! from the client after an answer start the next request.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded after this long.
    Latency(Duration),
    /// The connection is closed before the request is forwarded.
    Cut,
    /// Forwarded; the answer is dropped with the connection.
    Swallow,
    /// Read and held: neither forwarded nor answered.
    BlackHole,
    /// Not forwarded; every connection is closed and new ones are refused for this long.
    Refuse(Duration),
}

#[derive(Default)]
struct Rules {
    /// Faults for the next requests in order (`None`: pass).
    plan: VecDeque<Option<Fault>>,
    /// A fault for every `n`-th request after the plan.
    every: Option<(u64, Fault)>,
}

struct Shared {
    upstream: SocketAddr,
    rules: Mutex<Rules>,
    requests: AtomicU64,
    faulted: AtomicU64,
    /// Bumped to close every live connection.
    cut: watch::Sender<u64>,
    /// Whether connections are refused (the listener closed).
    refusing: watch::Sender<bool>,
    /// When the last fault was applied.
    last_fault_at: Mutex<Option<std::time::Instant>>,
}

impl Shared {
    fn next_fault(&self) -> Option<Fault> {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let fault = match rules.plan.pop_front() {
            Some(planned) => planned,
            None => rules.every.and_then(|(every, f)| n.is_multiple_of(every).then_some(f)),
        };
        if fault.is_some() {
            self.faulted.fetch_add(1, Ordering::SeqCst);
            *self.last_fault_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
        }
        fault
    }
}

pub struct FaultProxy {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.shared.cut.send_modify(|g| *g += 1);
    }
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:<port>`) on a free loopback port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream: SocketAddr =
            upstream.trim_start_matches("http://").parse().expect("upstream is http://127.0.0.1:<port>");
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Rules::default()),
            requests: AtomicU64::new(0),
            faulted: AtomicU64::new(0),
            cut: watch::channel(0).0,
            refusing: watch::channel(false).0,
            last_fault_at: Mutex::new(None),
        });
        let task = tokio::spawn(accept_loop(listener, addr, Arc::clone(&shared)));
        FaultProxy { url: format!("http://{addr}"), shared, task }
    }

    /// Plans the next requests' faults in order (`None` passes one); replaces any plan.
    pub fn plan(&self, faults: impl IntoIterator<Item = Option<Fault>>) {
        self.rules().plan = faults.into_iter().collect();
    }

    /// `fault` for every `n`-th request from now on, after any plan; `None` stops it.
    pub fn every(&self, every: Option<(u64, Fault)>) {
        self.rules().every = every;
    }

    /// Passes everything from now on.
    pub fn clear(&self) {
        *self.rules() = Rules::default();
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests given a fault so far.
    pub fn faulted(&self) -> u64 {
        self.shared.faulted.load(Ordering::SeqCst)
    }

    /// Closes every live connection now (an in-flight request is lost on the way).
    pub fn cut_connections(&self) {
        self.shared.cut.send_modify(|g| *g += 1);
    }

    /// When the last fault was applied (a latency holds its request from then on).
    pub fn last_fault_at(&self) -> Option<std::time::Instant> {
        *self.shared.last_fault_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a refusal ([`Fault::Refuse`]) has ended and the listener takes connections
    /// again. A refusal lasts its duration from the faulted request on, which comes some time
    /// after the caller's request began: a sleep of that duration from the caller's start may
    /// end while connections are still refused.
    pub async fn accepting(&self) {
        let mut refusing = self.shared.refusing.subscribe();
        let _ = refusing.wait_for(|refusing| !*refusing).await;
        let addr = self.url.trim_start_matches("http://");
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.shared.rules.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A listener that may be bound again on the same port at once.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut refusing = shared.refusing.subscribe();
    let mut listener = Some(listener);
    loop {
        if *refusing.borrow_and_update() {
            listener = None;
            if refusing.changed().await.is_err() {
                return;
            }
            continue;
        }
        let current = match listener.take() {
            Some(l) => l,
            None => match listen(addr) {
                Ok(l) => l,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        tokio::select! {
            accepted = current.accept() => {
                if let Ok((client, _)) = accepted {
                    tokio::spawn(pump(client, Arc::clone(&shared)));
                }
                listener = Some(current);
            }
            _ = refusing.changed() => listener = Some(current),
        }
    }
}

/// Relays one client connection, applying each request's fault.
async fn pump(client: TcpStream, shared: Arc<Shared>) {
    let mut cut = shared.cut.subscribe();
    let Ok(server) = TcpStream::connect(shared.upstream).await else { return };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (mut from_client, mut from_server) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    let mut next_is_a_request = true;
    let mut swallow = false;
    loop {
        tokio::select! {
            _ = cut.changed() => return,
            read = client_read.read(&mut from_client) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                if next_is_a_request {
                    next_is_a_request = false;
                    match shared.next_fault() {
                        None => {}
                        Some(Fault::Latency(d)) => tokio::time::sleep(d).await,
                        Some(Fault::Cut) => return,
                        Some(Fault::Swallow) => swallow = true,
                        Some(Fault::BlackHole) => {
                            let _ = cut.changed().await;
                            return;
                        }
                        Some(Fault::Refuse(d)) => {
                            refuse_for(&shared, d);
                            return;
                        }
                    }
                }
                if server_write.write_all(&from_client[..n]).await.is_err() {
                    return;
                }
            }
            read = server_read.read(&mut from_server) => {
                let n = match read { Ok(0) | Err(_) => return, Ok(n) => n };
                if swallow {
                    // The store has answered, so the request was carried out: drop the answer.
                    return;
                }
                next_is_a_request = true;
                if client_write.write_all(&from_server[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Closes every connection and refuses new ones for `d`.
fn refuse_for(shared: &Arc<Shared>, d: Duration) {
    shared.refusing.send_replace(true);
    shared.cut.send_modify(|g| *g += 1);
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        tokio::time::sleep(d).await;
        shared.refusing.send_replace(false);
    });
}
