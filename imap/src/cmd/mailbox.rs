//! CREATE (RFC 9051 §6.3.4, RFC 6154 §3 USE), DELETE (§6.3.5), RENAME (§6.3.6),
//! SUBSCRIBE (§6.3.7), UNSUBSCRIBE (§6.3.8).

use mailyard_store::model::SPECIAL_USE;

use crate::proto::response::ResponseCode;
use crate::session::{Done, Session, store_error};

impl Session {
    /// CREATE name [(USE (\Sent))]: a trailing separator is dropped (RFC 9051 §6.3.4);
    /// one special-use attribute may be given. Authenticated and selected states.
    /// RFC 9051 §6.3.4, RFC 6154 §3.
    pub(crate) async fn handle_create(
        &mut self,
        mailbox: String,
        special_use: Vec<String>,
    ) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let name = match self.decode_mailbox(&mailbox) {
            Ok(n) => n,
            Err(done) => return done,
        };
        let name = name.strip_suffix('.').unwrap_or(&name).to_string();
        if name.eq_ignore_ascii_case("INBOX") {
            return Done::no(Some(ResponseCode::AlreadyExists), "INBOX always exists");
        }
        let special = match special_use.as_slice() {
            [] => None,
            [one] => match SPECIAL_USE.iter().find(|s| s.eq_ignore_ascii_case(one)) {
                Some(s) => Some((*s).to_string()),
                // RFC 6154 §3: USEATTR; the closest code we have is CANNOT.
                None => {
                    return Done::no(
                        Some(ResponseCode::Cannot),
                        format!("Unsupported special-use attribute {one}"),
                    );
                }
            },
            _ => {
                return Done::no(
                    Some(ResponseCode::Cannot),
                    "At most one special-use attribute per mailbox",
                );
            }
        };
        match self.store().create_mailbox(&user, &name, special).await {
            Ok(_) => Done::ok("CREATE completed"),
            Err(e) => store_error(e),
        }
    }

    /// DELETE: removes the mailbox and its messages; children stay (shown as children
    /// of a `\Noselect` name). INBOX cannot be deleted. Authenticated and selected
    /// states. RFC 9051 §6.3.5.
    pub(crate) async fn handle_delete(&mut self, mailbox: String) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let name = match self.decode_mailbox(&mailbox) {
            Ok(n) => n,
            Err(done) => return done,
        };
        if name == "INBOX" {
            return Done::no(Some(ResponseCode::Cannot), "INBOX cannot be deleted");
        }
        match self.store().delete_mailbox(&user, &name).await {
            Ok(()) => Done::ok("DELETE completed"),
            Err(e) => store_error(e),
        }
    }

    /// RENAME from to: children are renamed along; renaming INBOX moves its messages
    /// into the new mailbox and leaves INBOX empty. Authenticated and selected states.
    /// RFC 9051 §6.3.6.
    pub(crate) async fn handle_rename(&mut self, from: String, to: String) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let (from, to) = match (self.decode_mailbox(&from), self.decode_mailbox(&to)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(done), _) | (_, Err(done)) => return done,
        };
        let to = to.strip_suffix('.').unwrap_or(&to).to_string();
        match self.store().rename_mailbox(&user, &from, &to).await {
            Ok(()) => Done::ok("RENAME completed"),
            Err(e) => store_error(e),
        }
    }

    /// SUBSCRIBE / UNSUBSCRIBE: kept in the user's `subscriptions` file; the mailbox
    /// need not exist. Authenticated and selected states. RFC 9051 §6.3.7, §6.3.8.
    pub(crate) async fn handle_subscribe(&mut self, mailbox: String, on: bool) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let name = match self.decode_mailbox(&mailbox) {
            Ok(n) => n,
            Err(done) => return done,
        };
        match self.store().set_subscribed(&user, &name, on).await {
            Ok(()) if on => Done::ok("SUBSCRIBE completed"),
            Ok(()) => Done::ok("UNSUBSCRIBE completed"),
            Err(e) => store_error(e),
        }
    }
}
