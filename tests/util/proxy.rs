//! A fault-injecting TCP proxy between the uploader and the S3 server: it passes traffic, cuts
//! connections in the middle of large requests, answers 503 itself, or holds a connection
//! without answering, as told.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// What the proxy does with new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Pass everything.
    None = 0,
    /// Cut the connection after 256 KiB of request (a part upload dies mid-way).
    CutLargeRequests = 1,
    /// Answer `503 Slow Down` to every request without passing it on.
    Unavailable = 2,
    /// Hold the first connection without answering (past the client's timeout), pass the rest.
    StallFirst = 3,
    /// Flip a byte in every MiB of responses, from 64 KiB on, and a digit of every ETag in a
    /// response body (a store or network that damages large reads and reports an upload it
    /// did not receive intact: the ETag no longer confirms it, and the read-back is damaged).
    CorruptLargeResponses = 4,
    /// Pass everything, at about 4 MB/s per connection upstream (a slow link).
    Slow = 5,
}

/// A running proxy.
pub struct FaultProxy {
    /// Its loopback port.
    pub port: u16,
    fault: Arc<AtomicU8>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Request bytes passed upstream since the last [`FaultProxy::set`].
    pub upstream_bytes: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fault = Arc::new(AtomicU8::new(Fault::None as u8));
        let connections = Arc::new(AtomicUsize::new(0));
        let upstream_bytes = Arc::new(AtomicUsize::new(0));
        let (f, n, b) = (fault.clone(), connections.clone(), upstream_bytes.clone());
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seq = n.fetch_add(1, Ordering::SeqCst);
                let mode = f.load(Ordering::SeqCst);
                let bytes = b.clone();
                thread::spawn(move || serve(client, upstream, mode, seq, bytes));
            }
        });
        FaultProxy {
            port,
            fault,
            connections,
            upstream_bytes,
        }
    }

    /// Sets the fault for connections from now on.
    pub fn set(&self, fault: Fault) {
        self.connections.store(0, Ordering::SeqCst);
        self.upstream_bytes.store(0, Ordering::SeqCst);
        self.fault.store(fault as u8, Ordering::SeqCst);
    }
}

fn serve(client: TcpStream, upstream: u16, mode: u8, seq: usize, bytes: Arc<AtomicUsize>) {
    match mode {
        m if m == Fault::Unavailable as u8 => {
            let mut c = client;
            let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 65536];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            let _ = c.shutdown(Shutdown::Both);
        }
        m if m == Fault::StallFirst as u8 && seq == 0 => {
            // Read and never answer; give up after a while so the thread ends.
            let mut c = client;
            let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
            let mut buf = [0u8; 65536];
            while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
        }
        m => {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let limit = (m == Fault::CutLargeRequests as u8).then_some(256 * 1024);
            let how = Relay {
                limit,
                corrupt: m == Fault::CorruptLargeResponses as u8,
                slow: m == Fault::Slow as u8,
                bytes,
            };
            relay(client, server, how);
        }
    }
}

/// How a connection is relayed.
struct Relay {
    /// Cut the connection once this much of the request passed.
    limit: Option<usize>,
    /// Flip a byte in every MiB of the responses, and a digit of their ETags.
    corrupt: bool,
    /// Pass requests at about 4 MB/s.
    slow: bool,
    /// Counts the request bytes passed.
    bytes: Arc<AtomicUsize>,
}

/// Copies both ways, as `how` says.
fn relay(client: TcpStream, server: TcpStream, how: Relay) {
    let Relay {
        limit,
        corrupt,
        slow,
        bytes,
    } = how;
    let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = thread::spawn(move || {
        let mut buf = [0u8; 16384];
        let mut sent = 0usize;
        loop {
            let n = match c_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if limit.is_some_and(|l| sent + n > l) {
                let _ = c_in.shutdown(Shutdown::Both);
                let _ = s_out.shutdown(Shutdown::Both);
                return;
            }
            if slow {
                thread::sleep(Duration::from_millis(4));
            }
            if s_out.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n;
            bytes.fetch_add(n, Ordering::SeqCst);
        }
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let (mut s_in, mut c_out) = (server, client);
    let mut buf = [0u8; 16384];
    let mut passed = 0usize;
    const AT: usize = 64 * 1024;
    loop {
        let n = match s_in.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if corrupt {
            alter_etags(&mut buf[..n]);
            // One byte in every MiB of the stream, from 64 KiB on: any large body on any
            // (reused) connection is damaged.
            for (i, b) in buf[..n].iter_mut().enumerate() {
                let at = passed + i;
                // Every MiB from AT on (a mask: 1 MiB is a power of two).
                if at >= AT && (at - AT) & ((1 << 20) - 1) == 0 {
                    *b ^= 0x01;
                }
            }
        }
        if c_out.write_all(&buf[..n]).is_err() {
            break;
        }
        passed += n;
    }
    let _ = c_out.shutdown(Shutdown::Both);
    let _ = up.join();
}

/// Changes the first hex digit of each `<ETag>` value in `body` (quoted or not), keeping its
/// length.
fn alter_etags(body: &mut [u8]) {
    const TAG: &[u8] = b"<ETag>";
    let mut i = 0;
    while let Some(at) = body[i..].windows(TAG.len()).position(|w| w == TAG) {
        let mut j = i + at + TAG.len();
        for quote in [&b"&quot;"[..], b"&#34;", b"\""] {
            if body[j..].starts_with(quote) {
                j += quote.len();
            }
        }
        if j < body.len() {
            body[j] = if body[j] == b'0' { b'1' } else { b'0' };
        }
        i = j;
    }
}
