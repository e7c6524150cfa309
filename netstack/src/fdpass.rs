//! Passing the TAP fd from the namespace helper to the host side over a
//! unix socket (SCM_RIGHTS).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use crate::{sys, Error, Result};

/// Sends `fd` over `sock`.
pub fn send_fd(sock: &UnixStream, fd: impl AsFd) -> Result<()> {
    sys::send_fd(sock, fd.as_fd()).map_err(|e| Error::io("send fd", e))
}

/// Receives one fd sent with [`send_fd`].
pub fn recv_fd(sock: &UnixStream) -> Result<OwnedFd> {
    sys::recv_fd(sock).map_err(|e| Error::io("receive fd", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn passes_a_pipe_end() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut r, w) = std::io::pipe().unwrap();
        send_fd(&a, &w).unwrap();
        drop(w);
        let got = recv_fd(&b).unwrap();
        let mut w2 = std::fs::File::from(got);
        w2.write_all(b"via SCM_RIGHTS").unwrap();
        drop(w2);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "via SCM_RIGHTS");
        drop(a);
        assert!(recv_fd(&b).is_err());
    }
}
