//! The server's end of the local submission socket (`[listen] local`): every local
//! user may connect (the socket is mode 0666, as Postfix's maildrop takes everyone's
//! mail), the kernel says who they are (`SO_PEERCRED`: the peer's uid, looked up in
//! `/etc/passwd`), and the request ([`super::protocol`]) goes through the same
//! submission path as an in-process `sendmail` ([`super::submit`]).
//!
//! Invariants: nothing the client says decides who it is; the message is read only
//! once its length is known to fit `[limits] message_size`; a request that is not
//! complete within [`REQUEST_DEADLINE`], or when the server shuts down, is answered
//! `ERR 75` and dropped, while one being stored is finished first (its answer follows
//! durability, so a client told `OK` never submits twice).

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailyard_common::listener::Slot;
use mailyard_common::shutdown::Shutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::time::Instant;

use super::protocol::{self, End, Head, Limits, REQUEST_DEADLINE};
use super::submit::Submitter;
use super::{Exit, Failure, Invoker};
use crate::Context;

/// The listener's name in logs and metrics.
pub const NAME: &str = "local";

/// Binds the socket at `path`, mode 0666. An existing socket file nobody answers on
/// (left by a server that was killed) is removed first; one a server answers on is an
/// error (`AddrInUse`), as is a file that is not a socket. A missing parent directory
/// is created (mode 0755; systemd's `RuntimeDirectory=` makes it otherwise).
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::io::{Error, ErrorKind};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(Error::new(
                    ErrorKind::AddrInUse,
                    "a server answers on this socket already",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// Accepts on `listener` (bound at `path` by [`bind`]) until shutdown, at most
/// `[limits] max_connections` at once; then removes the socket file, so a client finds
/// no server instead of a dead socket.
pub async fn serve(listener: UnixListener, path: PathBuf, ctx: Arc<Context>, shutdown: Shutdown) {
    let inode = std::fs::metadata(&path).map(|m| m.ino()).ok();
    let max = ctx.config().limits.max_connections;
    let sd = shutdown.clone();
    let metrics = ctx.metrics.clone();
    mailyard_common::listener::accept_loop(
        NAME,
        listener,
        shutdown,
        max,
        &metrics,
        move |stream: UnixStream, _peer, slot: Option<Slot>| {
            connection(ctx.clone(), stream, slot, sd.clone())
        },
    )
    .await;
    // Only our own socket: another server may have taken the path since.
    if inode.is_some() && std::fs::metadata(&path).map(|m| m.ino()).ok() == inode {
        let _ = std::fs::remove_file(&path);
    }
}

/// One connection: who it is, its request, the answer.
async fn connection(
    ctx: Arc<Context>,
    mut stream: UnixStream,
    slot: Option<Slot>,
    shutdown: Shutdown,
) {
    let uid = match stream.peer_cred() {
        Ok(cred) => cred.uid(),
        Err(e) => {
            tracing::warn!(listener = NAME, error = %e, "no peer credentials: closed");
            return;
        }
    };
    // The kernel vouches for the peer: it counts as authenticated from the start.
    let Some(mut slot) = slot else {
        answer(
            &mut stream,
            &Err(Failure::new(Exit::TempFail, "too many connections")),
        )
        .await;
        return;
    };
    slot.authenticated();
    let invoker = Invoker::of_uid(uid).await;
    let span = tracing::info_span!("local", uid, user = %invoker.user);
    let result = tracing::Instrument::instrument(
        handle(&ctx, &mut stream, &invoker, &shutdown),
        span.clone(),
    )
    .await;
    match result {
        // The client left before its request was whole: nobody to answer.
        Ok(None) => {}
        Ok(Some(text)) => answer(&mut stream, &Ok(text)).await,
        Err(f) => {
            tracing::info!(parent: &span, listener = NAME, exit = f.exit.code(), error = %f.message, "refused");
            answer(&mut stream, &Err(f)).await;
        }
    }
}

/// Reads the request (within the deadline, unless the server shuts down) and runs it:
/// the `OK` text, or None when the client left first.
async fn handle(
    ctx: &Context,
    stream: &mut UnixStream,
    invoker: &Invoker,
    shutdown: &Shutdown,
) -> Result<Option<String>, Failure> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let read = tokio::select! {
        r = tokio::time::timeout_at(deadline, read_request(ctx, stream)) => {
            r.unwrap_or_else(|_| Err(Failure::new(
                Exit::TempFail,
                format!("the request did not arrive within {} s", REQUEST_DEADLINE.as_secs()),
            )))
        }
        _ = shutdown.token.cancelled() => {
            Err(Failure::new(Exit::TempFail, "the server is shutting down; try again"))
        }
    };
    let Some((head, body)) = read? else {
        return Ok(None);
    };
    let submitter = Submitter::new(ctx.config(), ctx.store.clone());
    match head.end {
        End::Check => {
            submitter.check(&head.submission.recipients)?;
            Ok(Some("recipients accepted".to_string()))
        }
        End::Data(_) => {
            let s = submitter.submit(&head.submission, body, invoker).await?;
            if s.queued.is_some() {
                ctx.relay.wake();
            }
            Ok(Some(s.describe()))
        }
    }
}

/// Reads a request: its head, then (for `DATA`) exactly its message. `Ok(None)` when
/// the client closed the connection first.
async fn read_request(
    ctx: &Context,
    stream: &mut UnixStream,
) -> Result<Option<(Head, Vec<u8>)>, Failure> {
    let config = ctx.config();
    let limits = Limits {
        max_recipients: config.limits.max_recipients,
        message_size: config.limits.message_size,
    };
    let mut buf = Vec::with_capacity(4096);
    let io = |e: std::io::Error| Failure::new(Exit::TempFail, format!("reading: {e}"));
    let head = loop {
        if let Some(head) = protocol::parse_head(&buf, &limits)? {
            break head;
        }
        // The head is bounded: parse_head refuses a line over MAX_LINE and more
        // RCPT lines than max_recipients, and every other line comes once.
        if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
            return Ok(None);
        }
    };
    let len = match head.end {
        End::Check => 0,
        End::Data(n) => n,
    };
    let mut body = buf.split_off(head.consumed.min(buf.len()));
    if body.len() as u64 > len {
        return Err(Failure::new(
            Exit::Usage,
            "more octets than DATA announced (one request per connection)",
        ));
    }
    // Grown as octets arrive, never to more than announced.
    while (body.len() as u64) < len {
        let want = len - body.len() as u64;
        if (&mut *stream)
            .take(want)
            .read_buf(&mut body)
            .await
            .map_err(io)?
            == 0
        {
            return Ok(None);
        }
    }
    Ok(Some((head, body)))
}

async fn answer(stream: &mut UnixStream, result: &Result<String, Failure>) {
    let line = protocol::encode_reply(result);
    let _ = tokio::time::timeout(REQUEST_DEADLINE, async {
        let _ = stream.write_all(&line).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
