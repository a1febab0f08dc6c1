//! IDLE (RFC 2177, RFC 9051 §6.3.13).

use std::time::Duration;

use crate::proto::command::is_idle_done;
use crate::proto::receiver::{Event, Mode};
use crate::proto::response::continuation;
use crate::session::{Done, End, Session, Wake};

/// How long a change may wait before it is announced during IDLE (after a wake, a
/// short pause lets a burst of changes arrive as one update).
const COALESCE: Duration = Duration::from_millis(50);

impl Session {
    /// IDLE: `+ idling`, then updates as they happen (EXISTS, EXPUNGE, FETCH FLAGS,
    /// within a second of the change; RFC 2177 §3 allows EXPUNGE here) until the
    /// client sends DONE. After NOTIFY SET, exactly the events NOTIFY asked for
    /// (RFC 5465 §4): the selected mailbox's as its selected group says, the other
    /// mailboxes' as STATUS and LIST. Authenticated and selected states. RFC 2177 §3.
    pub(crate) async fn handle_idle(&mut self) -> Result<Done, End> {
        self.conn.wbuf.extend_from_slice(&continuation("idling"));
        self.push_unsolicited(true).await?;
        self.conn.flush().await?;
        self.receiver.set_mode(Mode::Line);
        let mut watching = true;
        loop {
            // A line already buffered?
            let (n, ev) = self.receiver.feed(&self.conn.rbuf);
            self.conn.rbuf.drain(..n);
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
            let notify = self.notify.is_some();
            let selected = watching
                && self
                    .notify
                    .as_deref()
                    .is_none_or(|n| n.selected_updates(true).is_some());
            match self.wait(selected, notify).await? {
                Wake::Input => {}
                // The publisher is gone (the store is closing): keep idling without
                // watching.
                Wake::SelectedGone => watching = false,
                Wake::Selected | Wake::Notify => {
                    tokio::time::sleep(COALESCE).await;
                    self.push_unsolicited(true).await?;
                    self.conn.flush().await?;
                }
            }
        }
    }
}
