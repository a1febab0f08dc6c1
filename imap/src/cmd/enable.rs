//! ENABLE (RFC 5161 §3.1; RFC 9051 §6.3.1): UTF8=ACCEPT (RFC 6855 §3),
//! CONDSTORE (RFC 7162 §3.1), QRESYNC (RFC 7162 §3.2.3) and IMAP4rev2
//! (RFC 9051 Appendix A).

use crate::proto::response::{ResponseCode, Status};
use crate::session::{Done, Session};

impl Session {
    /// Turns CONDSTORE on for ENABLE or a CONDSTORE-enabling command (RFC 7162 §3.1:
    /// SELECT/EXAMINE (CONDSTORE), STATUS HIGHESTMODSEQ, FETCH MODSEQ/CHANGEDSINCE,
    /// SEARCH MODSEQ, STORE UNCHANGEDSINCE). The first time, with a mailbox selected,
    /// the view's HIGHESTMODSEQ is sent as `* OK [HIGHESTMODSEQ n]`: the point from
    /// which this session now reports MODSEQs (RFC 7162 §3.1, §3.1.2.1; what Dovecot
    /// does; imaptest `esearch-condstore` expects it).
    pub(crate) fn enable_condstore(&mut self) {
        if self.ext.condstore {
            return;
        }
        self.ext.condstore = true;
        if let Some(modseq) = self.view().map(|v| v.modseq) {
            self.untagged(
                Status::Ok,
                Some(&ResponseCode::HighestModSeq(modseq)),
                "Highest",
            );
        }
    }

    /// ENABLE cap…: turns on what we implement and lists, in `* ENABLED`, what this
    /// command newly enabled; unknown names are ignored (RFC 5161 §3.1). QRESYNC
    /// implies CONDSTORE (RFC 7162 §3.2.3); IMAP4rev2 implies UTF-8 mailbox names
    /// (RFC 9051 §5.1). Authenticated state. RFC 5161 §3.1, RFC 9051 §6.3.1.
    pub(crate) fn handle_enable(&mut self, capabilities: Vec<String>) -> Done {
        let mut enabled: Vec<&str> = Vec::new();
        for cap in capabilities {
            match cap.as_str() {
                "UTF8=ACCEPT" if !self.utf8 => {
                    self.utf8 = true;
                    enabled.push("UTF8=ACCEPT");
                }
                "CONDSTORE" if !self.ext.condstore => {
                    self.enable_condstore();
                    enabled.push("CONDSTORE");
                }
                "QRESYNC" if !self.ext.qresync => {
                    self.ext.qresync = true;
                    self.enable_condstore();
                    enabled.push("QRESYNC");
                }
                "IMAP4REV2" if !self.ext.rev2 => {
                    self.ext.rev2 = true;
                    self.utf8 = true;
                    enabled.push("IMAP4rev2");
                }
                _ => {}
            }
        }
        let mut out = b"* ENABLED".to_vec();
        for cap in &enabled {
            out.push(b' ');
            out.extend_from_slice(cap.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        self.conn.wbuf.extend_from_slice(&out);
        Done::ok("ENABLE completed")
    }
}
