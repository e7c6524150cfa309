//! A registry inside the test process that serves one image from memory
//! and misbehaves on one blob: it goes quiet halfway through the body (the
//! socket stays open, as with a stuck proxy or a dead peer behind NAT), or
//! sends the body in slow pieces. The real registries cannot be made to do
//! either.
//!
//! It speaks just enough HTTP/1.1 for `rless pull`: `GET /v2/`, a manifest
//! by tag or digest, and blobs, one request per connection
//! (`Connection: close`). A TLS hello (rless tries HTTPS first on loopback)
//! is answered by closing the connection, so rless falls back to HTTP at
//! once.

use super::oci::Built;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// What the registry does with the body of the chosen blob.
#[derive(Clone, Copy, Debug)]
pub enum Misbehave {
    /// Send the headers (with the full Content-Length) and half the body,
    /// then nothing, keeping the connection open until the registry is
    /// dropped.
    Stall,
    /// Send the body in `pieces` parts with `gap` between them.
    Trickle { pieces: usize, gap: Duration },
}

/// A running fake registry; stops when dropped.
pub struct FakeRegistry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub repo: String,
    stop: Arc<AtomicBool>,
    /// One message each time the misbehaving blob is asked for.
    asked: mpsc::Receiver<()>,
}

struct Content {
    repo: String,
    manifest: Vec<u8>,
    manifest_type: &'static str,
    manifest_digest: String,
    /// (digest, bytes, misbehave?)
    blobs: Vec<(String, Vec<u8>, bool)>,
    how: Misbehave,
}

impl FakeRegistry {
    /// Serves `img` as `repo:latest`; the blob of layer `layer` misbehaves.
    pub fn serve(repo: &str, img: &Built, layer: usize, how: Misbehave) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake registry");
        let host = listener.local_addr().unwrap().to_string();
        let mut blobs = vec![(img.config_digest(), img.config_bytes(), false)];
        for (i, l) in img.layers.iter().enumerate() {
            blobs.push((l.digest.clone(), l.blob.clone(), i == layer));
        }
        let content = Arc::new(Content {
            repo: repo.to_string(),
            manifest: img.manifest_bytes(),
            manifest_type: img.manifest_media_type(),
            manifest_digest: img.manifest_digest(),
            blobs,
            how,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, asked) = mpsc::channel();
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (content, stop, tx) = (content.clone(), stopping.clone(), tx.clone());
                std::thread::spawn(move || serve_one(conn, &content, &stop, &tx));
            }
        });
        FakeRegistry {
            host,
            repo: repo.to_string(),
            stop,
            asked,
        }
    }

    /// `HOST:PORT/REPO:latest`.
    pub fn reference(&self) -> String {
        format!("{}/{}:latest", self.host, self.repo)
    }

    /// Waits until a client asked for the misbehaving blob; panics after
    /// `timeout`.
    pub fn wait_asked(&self, timeout: Duration) {
        self.asked
            .recv_timeout(timeout)
            .expect("the misbehaving blob was not requested in time");
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.host);
    }
}

/// The request path of one request, `None` for TLS or garbage.
fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 || head.len() > 64 << 10 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        // 0x16: a TLS handshake record.
        if head[0] == 0x16 {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut parts = text.lines().next()?.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    Some(parts.next()?.to_string())
}

fn serve_one(mut conn: TcpStream, c: &Content, stop: &AtomicBool, asked: &mpsc::Sender<()>) {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let Some(path) = read_request(&mut conn) else {
        return;
    };
    let head = |status: &str, ctype: &str, len: usize| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\n\
             Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n"
        )
    };
    let manifests = format!("/v2/{}/manifests/", c.repo);
    let blobs = format!("/v2/{}/blobs/", c.repo);
    if path == "/v2/" {
        let _ = conn.write_all(format!("{}{{}}", head("200 OK", "application/json", 2)).as_bytes());
    } else if let Some(r) = path.strip_prefix(&manifests) {
        if r == "latest" || r == c.manifest_digest {
            let _ = conn.write_all(head("200 OK", c.manifest_type, c.manifest.len()).as_bytes());
            let _ = conn.write_all(&c.manifest);
        } else {
            let _ = conn.write_all(head("404 Not Found", "text/plain", 0).as_bytes());
        }
    } else if let Some((_, data, bad)) = path
        .strip_prefix(&blobs)
        .and_then(|d| c.blobs.iter().find(|(digest, _, _)| digest == d))
    {
        let _ = conn.write_all(head("200 OK", "application/octet-stream", data.len()).as_bytes());
        if !bad {
            let _ = conn.write_all(data);
        } else {
            let _ = asked.send(());
            misbehave(&mut conn, data, c.how, stop);
        }
    } else {
        let _ = conn.write_all(head("404 Not Found", "text/plain", 0).as_bytes());
    }
    let _ = conn.flush();
}

fn misbehave(conn: &mut TcpStream, data: &[u8], how: Misbehave, stop: &AtomicBool) {
    match how {
        Misbehave::Stall => {
            let _ = conn.write_all(&data[..data.len() / 2]);
            let _ = conn.flush();
            // Silent but open, until the test is over (bounded, so a test
            // that never drops its registry leaks no thread for long).
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Misbehave::Trickle { pieces, gap } => {
            let size = data.len().div_ceil(pieces.max(1));
            for (i, piece) in data.chunks(size.max(1)).enumerate() {
                if i > 0 {
                    std::thread::sleep(gap);
                }
                if conn.write_all(piece).and_then(|()| conn.flush()).is_err() {
                    return;
                }
            }
        }
    }
}
