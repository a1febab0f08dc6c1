//! The client's end of the local submission socket: what `mailyard sendmail` does
//! when it may not write `data_dir` itself. One blocking request per connection
//! ([`super::protocol`]).

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::protocol::{self, End, MAX_REPLY, REQUEST_DEADLINE};
use super::submit::Submission;
use super::{Exit, Failure};

/// Sends `s` (with `message` for `DATA`, nothing for `CHECK`) to the server on
/// `path`: the `OK` text, or the failure of an `ERR` reply. No server answering is
/// `EX_TEMPFAIL`: an unprivileged user's mail can only be queued by a running server.
pub fn request(path: &Path, s: &Submission, end: End, message: &[u8]) -> Result<String, Failure> {
    let head = protocol::encode_head(s, end)?;
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => Failure::new(
            Exit::TempFail,
            format!(
                "mailyard serve is not running (nothing answers on {}); without write \
                 access to data_dir, mail can only be queued through it: start it, or run \
                 sendmail as root or as the user serve runs as",
                path.display()
            ),
        ),
        ErrorKind::PermissionDenied => Failure::new(
            Exit::NoPerm,
            format!("{}: {e} (the socket should be mode 0666)", path.display()),
        ),
        _ => Failure::new(Exit::TempFail, format!("{}: {e}", path.display())),
    })?;
    let _ = stream.set_read_timeout(Some(REQUEST_DEADLINE));
    let _ = stream.set_write_timeout(Some(REQUEST_DEADLINE));
    let sent = stream
        .write_all(&head)
        .and_then(|()| stream.write_all(message))
        .and_then(|()| stream.flush());
    // A refusal before the message (too big, bad request) closes the connection
    // while we write: its answer is there to read all the same.
    let mut reply = Vec::with_capacity(128);
    let read = (&mut stream).take(MAX_REPLY as u64).read_to_end(&mut reply);
    let lost = |e: Option<std::io::Error>| {
        Failure::new(
            Exit::TempFail,
            format!(
                "the server closed the connection without an answer{}",
                e.map(|e| format!(" ({e})")).unwrap_or_default()
            ),
        )
    };
    // The answer, when one came, however reading or writing ended (a socket whose
    // peer closed with our octets unread reports ECONNRESET after the answer).
    if reply.ends_with(b"\n") {
        return protocol::parse_reply(&reply);
    }
    match (sent, read) {
        (Err(e), _) | (_, Err(e)) => Err(lost(Some(e))),
        _ if reply.is_empty() => Err(lost(None)),
        _ => protocol::parse_reply(&reply),
    }
}
