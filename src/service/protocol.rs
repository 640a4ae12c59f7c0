//! What the login client and the recording service say to each other over the service's Unix
//! socket. The client sends one request (a length, then JSON) with its standard descriptors
//! attached (`SCM_RIGHTS`); then a byte `w` each time its window changes size. The service
//! answers once, at the end: one JSON line with the exit status.
//!
//! Everything in a request is a claim of the (untrusted) client: the service takes the user from
//! the socket's peer credentials, and reads nothing the request names without checking it.

use std::collections::BTreeMap;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use anyhow::{Context, Result, bail, ensure};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};
use serde::{Deserialize, Serialize};

/// The protocol's version; a service refuses requests of another.
pub const VERSION: u32 = 1;
/// A request larger than this is not one (sshd caps a command line well below it).
const MAX_REQUEST: usize = 1024 * 1024;
/// The byte a client sends when its terminal changed size.
pub const WINDOW_CHANGED: u8 = b'w';

/// The environment variables a client passes on; the shell gets these (and the login
/// environment the service builds), nothing else of the client's.
pub const PASSED_ENV: &[&str] = &[
    "TERM",
    "COLORTERM",
    "LANG",
    "LANGUAGE",
    "TZ",
    "SSH_CONNECTION",
    "SSH_CLIENT",
    "SSH_TTY",
    "SSH_USER_AUTH",
    "SSH_ORIGINAL_COMMAND",
    // Read only where the policy trusts the environment (trust_env_grant).
    "SESSREC_GRANT_ID",
    "SESSREC_GRANT_EXPIRES",
];

/// A login, as the client asks for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Request {
    /// [`VERSION`].
    pub version: u32,
    /// The `-c` command (bytes, as sshd passed them), or none for an interactive login.
    pub command: Option<Vec<u8>>,
    /// The variables of [`PASSED_ENV`] (and `LC_*`) the client had.
    pub env: BTreeMap<String, String>,
}

/// The service's one answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    /// The session's exit status.
    pub exit: i32,
    /// Why the service refused the connection before it became a session, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether an environment variable is passed on.
pub fn passed(name: &str) -> bool {
    PASSED_ENV.contains(&name) || name.starts_with("LC_")
}

/// Sends `request` with `fds` (the client's standard input, output and error).
pub fn send_request(sock: &UnixStream, request: &Request, fds: &[BorrowedFd<'_>]) -> Result<()> {
    let body = serde_json::to_vec(request).context("encoding the request")?;
    let len = (body.len() as u32).to_be_bytes();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    ensure!(
        control.push(SendAncillaryMessage::ScmRights(fds)),
        "too many descriptors"
    );
    // The descriptors go with the first byte; the rest is an ordinary stream.
    let sent = sendmsg(
        sock,
        &[IoSlice::new(&len)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .context("handing the terminal to the recording service")?;
    let mut w = sock;
    w.write_all(&len[sent..])
        .and_then(|()| w.write_all(&body))
        .context("sending the request to the recording service")?;
    Ok(())
}

/// Receives a request and the descriptors that came with it (at most three).
pub fn recv_request(sock: &UnixStream) -> Result<(Request, Vec<OwnedFd>)> {
    let mut len = [0u8; 4];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        sock,
        &mut [IoSliceMut::new(&mut len)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .context("reading the request")?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    ensure!(
        !got.flags.contains(rustix::net::ReturnFlags::CTRUNC),
        "malformed request: too many descriptors"
    );
    ensure!(got.bytes > 0, "malformed request: the client sent nothing");
    let mut r = sock;
    r.read_exact(&mut len[got.bytes..])
        .context("reading the request")?;
    let n = u32::from_be_bytes(len) as usize;
    ensure!(n <= MAX_REQUEST, "malformed request: {n} bytes is too long");
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).context("reading the request")?;
    let request: Request = serde_json::from_slice(&body).context("malformed request")?;
    if request.version != VERSION {
        bail!(
            "the client speaks protocol version {} and this service {VERSION}: install one sessrec binary for both",
            request.version
        );
    }
    Ok((request, fds))
}

/// Sends the exit status (the client may be gone: that is not an error worth more than a note).
pub fn send_reply(mut sock: &UnixStream, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    sock.write_all(&line)
}

/// Parses the service's answer line.
pub fn parse_reply(line: &[u8]) -> Result<Reply> {
    serde_json::from_slice(line).context("the recording service's answer is malformed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_request_travels_with_its_descriptors() {
        let (a, b) = UnixStream::pair().unwrap();
        let file = tempfile::tempfile().unwrap();
        let mut env = BTreeMap::new();
        env.insert("TERM".into(), "xterm".into());
        let req = Request {
            version: VERSION,
            command: Some(b"ls -l".to_vec()),
            env,
        };
        send_request(&a, &req, &[file.as_fd(), file.as_fd(), file.as_fd()]).unwrap();
        let (got, fds) = recv_request(&b).unwrap();
        assert_eq!(got, req);
        assert_eq!(fds.len(), 3);
        assert!(rustix::io::fcntl_getfd(&fds[0]).is_ok());
    }

    #[test]
    fn an_oversized_or_foreign_request_is_refused() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&(u32::MAX).to_be_bytes()).unwrap();
        assert!(recv_request(&b).is_err());
        let (a, b) = UnixStream::pair().unwrap();
        let req = Request {
            version: 99,
            command: None,
            env: BTreeMap::new(),
        };
        send_request(&a, &req, &[]).unwrap();
        assert!(recv_request(&b).is_err());
    }
}
