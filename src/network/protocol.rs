//! The network helper's protocol (`helper.sock`): one JSON line per
//! request and per answer, read byte by byte so that a descriptor sent
//! after a line (SCM_RIGHTS: a user namespace, a network namespace) stays
//! in the socket for its own read.

use super::Attachment;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::net::UnixStream;

/// A request to the helper.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Userns,
    Attach {
        container: String,
        init_pid: i32,
        networks: Vec<Attachment>,
        /// The container's `--dns` servers, asked for the names its
        /// networks do not own (none: the host's resolver).
        #[serde(default)]
        dns: Vec<IpAddr>,
        /// Names of its own beyond those of `networks`: an infra
        /// container's pod's name and its members' (`super::podnames`).
        #[serde(default)]
        pod_names: Vec<String>,
    },
    /// Adds a network to a running, attached container.
    Connect {
        container: String,
        attachment: Attachment,
    },
    /// Removes a network from a running container.
    Disconnect {
        container: String,
        network: String,
    },
    /// A running container's name changed: its DNS name too.
    Rename {
        container: String,
        from: String,
        to: String,
    },
    /// A member of the pod whose infra container is `container` came
    /// (`add`) or went: its name, which the infra container answers for.
    PodName {
        container: String,
        name: String,
        add: bool,
    },
    /// Keeps the connection as the container's tie (see [`Live::tie`]):
    /// a monitor whose helper died asks the new one, which gave its
    /// container its networks back.
    Watch {
        container: String,
    },
}

/// The helper's answer.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Response {
    pub error: Option<String>,
    /// The container's address on each network, in order.
    #[serde(default)]
    pub ips: Vec<Ipv4Addr>,
}

/// Reads one line (up to 1 MiB) byte by byte, so a descriptor sent after
/// it stays in the socket.
pub fn read_line(s: &mut UnixStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ if b[0] == b'\n' => break,
            _ if line.len() > 1 << 20 => return Err(std::io::Error::other("line too long")),
            _ => line.push(b[0]),
        }
    }
    String::from_utf8(line).map_err(std::io::Error::other)
}

pub fn write_json(s: &mut UnixStream, v: &impl Serialize) -> std::io::Result<()> {
    let mut body = serde_json::to_vec(v).map_err(std::io::Error::other)?;
    body.push(b'\n');
    s.write_all(&body)
}
