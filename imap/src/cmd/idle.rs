//! IDLE (RFC 2177, RFC 9051 §6.3.13).

use std::time::Duration;

use crate::proto::command::is_idle_done;
use crate::proto::receiver::{Event, Mode};
use crate::proto::response::continuation;
use crate::session::state::State;
use crate::session::{Done, End, IDLE_TIMEOUT, Session};

/// How long a change may wait before it is announced during IDLE (after a wake, a
/// short pause lets a burst of changes arrive as one update).
const COALESCE: Duration = Duration::from_millis(50);

impl Session {
    /// IDLE: `+ idling`, then updates as they happen (EXISTS, EXPUNGE, FETCH FLAGS,
    /// within a second of the change; RFC 2177 §3 allows EXPUNGE here) until the
    /// client sends DONE. Authenticated and selected states. RFC 2177 §3.
    pub(crate) async fn handle_idle(&mut self) -> Result<Done, End> {
        self.wbuf.extend_from_slice(&continuation("idling"));
        self.send_updates(true).await?;
        self.flush().await?;
        self.receiver.set_mode(Mode::Line);
        let token = self.shutdown.token.clone();
        let mut watching = true;
        loop {
            // A line already buffered?
            let (n, ev) = self.receiver.feed(&self.rbuf);
            self.rbuf.drain(..n);
            match ev {
                Event::Line(line) => {
                    return Ok(if is_idle_done(&line) {
                        Done::ok("IDLE terminated")
                    } else {
                        Done::bad("Expected DONE")
                    });
                }
                Event::Error { .. } => return Ok(Done::bad("Expected DONE")),
                Event::NeedsContinuation | Event::Command(_) => {
                    return Ok(Done::bad("Expected DONE"));
                }
                Event::NeedMore => {}
            }
            let mut rx = match &self.state {
                State::Selected { view, .. } if watching => Some(view.rx.clone()),
                _ => None,
            };
            let Some(stream) = self.stream.as_mut() else {
                return Err(End::Eof);
            };
            self.rbuf.reserve(4096);
            use tokio::io::AsyncReadExt;
            let changed = async {
                match rx.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = tokio::time::timeout(IDLE_TIMEOUT, stream.read_buf(&mut self.rbuf)) => {
                    match r {
                        Ok(Ok(0)) => return Err(End::Eof),
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(End::Io(e)),
                        Err(_) => return Err(End::Timeout),
                    }
                }
                ok = changed => {
                    if !ok {
                        // The publisher is gone (the store is closing): keep idling
                        // without watching.
                        watching = false;
                    }
                    tokio::time::sleep(COALESCE).await;
                    self.send_updates(true).await?;
                    self.flush().await?;
                }
                _ = token.cancelled() => return Err(End::Shutdown),
            }
        }
    }
}
