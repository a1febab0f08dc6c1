//! Commands valid in any state (RFC 9051 §6.1) and the small session-wide ones:
//! CAPABILITY, NOOP, LOGOUT, ID, NAMESPACE (ENABLE is in `enable.rs`).

use crate::proto::response::{ResponseCode, Status, write_string};
use crate::session::state::State;
use crate::session::{Done, SERVER_NAME, SERVER_VERSION, Session};

impl Session {
    /// CAPABILITY: the list for the current state. Any state. RFC 9051 §6.1.1.
    pub(crate) fn handle_capability(&mut self) -> Done {
        let mut out = b"* CAPABILITY ".to_vec();
        out.extend_from_slice(self.capabilities().join(" ").as_bytes());
        out.extend_from_slice(b"\r\n");
        self.conn.wbuf.extend_from_slice(&out);
        Done::ok("CAPABILITY completed")
    }

    /// NOOP: nothing, but the dispatcher sends pending mailbox updates. Any state.
    /// RFC 9051 §6.1.2.
    pub(crate) fn handle_noop(&mut self) -> Done {
        Done::ok("NOOP completed")
    }

    /// LOGOUT: `* BYE`, then the tagged OK, then close. Any state. RFC 9051 §6.1.3.
    pub(crate) fn handle_logout(&mut self) -> Done {
        self.untagged(Status::Bye, None, "Logging out");
        self.state = State::Logout;
        Done {
            close: true,
            ..Done::ok("LOGOUT completed")
        }
    }

    /// ID: the server's name and version; the client's fields are only logged. Any
    /// state. RFC 2971 §3.1.
    pub(crate) fn handle_id(&mut self, params: Option<Vec<(String, Option<String>)>>) -> Done {
        if let Some(params) = &params {
            let client: Vec<String> = params
                .iter()
                .filter(|(k, _)| {
                    k.eq_ignore_ascii_case("name") || k.eq_ignore_ascii_case("version")
                })
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NIL")))
                .collect();
            tracing::debug!(client = %client.join(" "), "ID");
        }
        let mut out = b"* ID (".to_vec();
        write_string(&mut out, b"name", false);
        out.push(b' ');
        write_string(&mut out, SERVER_NAME.as_bytes(), false);
        out.push(b' ');
        write_string(&mut out, b"version", false);
        out.push(b' ');
        write_string(&mut out, SERVER_VERSION.as_bytes(), false);
        out.extend_from_slice(b")\r\n");
        self.conn.wbuf.extend_from_slice(&out);
        Done::ok("ID completed")
    }

    /// NAMESPACE: one personal namespace, prefix "" and separator ".". Authenticated
    /// and selected states. RFC 9051 §6.3.10, RFC 2342 §5.
    pub(crate) fn handle_namespace(&mut self) -> Done {
        self.conn
            .wbuf
            .extend_from_slice(b"* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
        Done::ok("NAMESPACE completed")
    }

    /// CHECK: every change is durable when acknowledged, so there is nothing to do.
    /// Selected state. RFC 3501 §6.4.1.
    pub(crate) fn handle_check(&mut self) -> Done {
        Done::ok("CHECK completed")
    }

    /// The tagged OK of a login, with the new capabilities (clients such as
    /// Thunderbird use them instead of asking again). RFC 9051 §6.2.3.
    pub(crate) fn login_ok(&self, what: &str) -> Done {
        Done::ok_code(
            ResponseCode::Capability(self.capabilities()),
            format!("{what} completed"),
        )
    }
}
