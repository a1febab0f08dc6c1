//! The capabilities of the extensions in `enable.rs`, `fetch.rs` (BINARY,
//! CONDSTORE), `select.rs` (QRESYNC), `search.rs` (SEARCHRES) and `append.rs`
//! (MULTIAPPEND, CATENATE) `urlauth.rs` (URLAUTH, URLAUTH=BINARY) and `notify.rs` (NOTIFY), added to the base list (`Session::capabilities`).

use crate::session::Session;

/// Advertised beside the base list; each one is fully implemented.
const EXTENSIONS: &[&str] = &[
    // RFC 7162 §3.1, §3.2.
    "CONDSTORE",
    "QRESYNC",
    // RFC 3516 §3.
    "BINARY",
    // RFC 5182 §2.
    "SEARCHRES",
    // RFC 3502 §3.
    "MULTIAPPEND",
    // RFC 4469 §2.
    "CATENATE",
    // RFC 4467 §2, RFC 5524 §2.
    "URLAUTH",
    "URLAUTH=BINARY",
    // RFC 5465 §3.
    "NOTIFY",
];

impl Session {
    /// Adds `IMAP4rev2` right after `IMAP4rev1` (RFC 9051 §7.2.2, Appendix A: a
    /// server offering both lists both) and the extensions above. RFC 9051 §6.1.1.
    pub(crate) fn extension_capabilities(&self, caps: &mut Vec<String>) {
        let at = caps
            .iter()
            .position(|c| c == "IMAP4rev1")
            .map_or(0, |i| i + 1);
        caps.insert(at, "IMAP4rev2".into());
        caps.extend(EXTENSIONS.iter().map(|c| (*c).to_string()));
    }
}
