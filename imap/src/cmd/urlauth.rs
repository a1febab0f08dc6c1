//! URLAUTH (RFC 4467): GENURLAUTH, RESETKEY and URLFETCH, with URLAUTH=BINARY's
//! extended URLFETCH (RFC 5524). The `INTERNAL` mechanism: tokens are HMACs under a
//! per-mailbox key (`mailyard_store::urlauth`); URLs are resolved by
//! `crate::urlfetch`, the same code CATENATE and SMTP BURL use.

use mailyard_store::StoreError;

use crate::proto::command::{UrlFetchArg, UrlFetchParams};
use crate::proto::response::{ResponseCode, write_literal, write_literal8};
use crate::proto::url::{ImapUrl, write_url};
use crate::session::{Done, Session, store_error};
use crate::urlfetch::{Need, Refused, Who, is_our_host, locate, url_owner};

/// The one mechanism we issue and accept (RFC 4467 §7 "INTERNAL").
const INTERNAL: &str = "INTERNAL";
/// How a generated URL names it (RFC 4467's examples write it lower-case, as
/// Dovecot does).
const INTERNAL_WIRE: &str = "internal";

impl Session {
    /// GENURLAUTH rump mechanism …: `* GENURLAUTH` with each rump completed by
    /// `:internal:token`, all or none. The rump must be an absolute URL of this
    /// server, of the logged-in user's own mailbox, with `;URLAUTH=` and no token.
    /// Authenticated and selected states. RFC 4467 §7.
    pub(crate) async fn handle_genurlauth(&mut self, urls: Vec<(String, String)>) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let mut jobs = Vec::with_capacity(urls.len());
        for (rump, mechanism) in urls {
            if mechanism != INTERNAL {
                return Done::no(Some(ResponseCode::Cannot), "Unknown URLAUTH mechanism");
            }
            let Ok(parsed) = ImapUrl::parse(&rump) else {
                return Done::bad("Invalid URL");
            };
            let (Some(server), Some(_), None, Some(mailbox)) = (
                &parsed.server,
                &parsed.access,
                &parsed.verifier,
                &parsed.mailbox,
            ) else {
                return Done::bad("Not a URLAUTH rump: an absolute URL with ;URLAUTH=");
            };
            if !is_our_host(self.store(), &self.ctx.config().hostname, &server.host).await {
                return Done::no(Some(ResponseCode::NoPerm), "Not a URL of this server");
            }
            if url_owner(server).as_ref() != Some(&user) {
                return Done::no(
                    Some(ResponseCode::NoPerm),
                    "Not permitted to authorize URLs of another user",
                );
            }
            jobs.push((mailbox.clone(), rump));
        }
        let rumps: Vec<String> = jobs.iter().map(|(_, rump)| rump.clone()).collect();
        let urls: Vec<String> = match self.store().urlauth_tokens(&user, jobs).await {
            Ok(tokens) => rumps
                .iter()
                .zip(tokens)
                .map(|(rump, token)| format!("{rump}:{INTERNAL_WIRE}:{token}"))
                .collect(),
            Err(StoreError::NoMailbox(_)) => {
                return Done::no(Some(ResponseCode::Nonexistent), "No such mailbox");
            }
            Err(e) => return store_error(e),
        };
        let mut out = b"* GENURLAUTH".to_vec();
        for url in &urls {
            out.push(b' ');
            write_url(&mut out, url);
        }
        out.extend_from_slice(b"\r\n");
        self.conn.wbuf.extend_from_slice(&out);
        Done::ok("GENURLAUTH completed")
    }

    /// RESETKEY [mailbox [mechanism …]]: a new key for the mailbox (every mailbox
    /// without one), so every URL authorized with the old one stops working.
    /// Authenticated and selected states. RFC 4467 §4.
    pub(crate) async fn handle_resetkey(
        &mut self,
        mailbox: Option<String>,
        mechanisms: Vec<String>,
    ) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        if mechanisms.iter().any(|m| m != INTERNAL) {
            return Done::no(Some(ResponseCode::Cannot), "Unknown URLAUTH mechanism");
        }
        let name = match mailbox.map(|m| self.decode_mailbox(&m)).transpose() {
            Ok(n) => n,
            Err(done) => return done,
        };
        match self.store().urlauth_reset(&user, name.as_deref()).await {
            Ok(()) => Done::ok("RESETKEY completed"),
            Err(StoreError::NoMailbox(_)) => {
                Done::no(Some(ResponseCode::Nonexistent), "No such mailbox")
            }
            Err(e) => store_error(e),
        }
    }

    /// URLFETCH url …: `* URLFETCH url data` per URL, NIL for one that is not a
    /// valid URLAUTH-authorized URL admitting this user (RFC 4467 §6: the command
    /// still succeeds). `(url BODYPARTSTRUCTURE BINARY|BODY)` answers the parts asked
    /// for, BODYPARTSTRUCTURE first, as Dovecot orders them (RFC 5524 §3).
    /// Authenticated and selected states. RFC 4467 §6, RFC 5524 §3.
    pub(crate) async fn handle_urlfetch(&mut self, urls: Vec<UrlFetchArg>) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let who = Who::Session {
            user,
            selected: self.view().map(|v| v.name.clone()),
        };
        // UTF-8 in quoted strings once the client accepts it (RFC 6855 §3, RFC 9051 §9).
        let utf8 = self.utf8 || self.ext.rev2;
        for arg in urls {
            let hostname = self.ctx.config().hostname.clone();
            let url = arg.url.clone();
            let params = arg.params;
            let located = locate(
                self.store(),
                &hostname,
                &url,
                &who,
                Need::Authorized,
                move |l| render(l, params, utf8),
            )
            .await;
            let answer = match located {
                Ok(a) => a,
                Err(why) => {
                    if let Refused::Store(e) = &why {
                        tracing::error!(error = %e, "URLFETCH");
                    } else {
                        tracing::debug!(%url, %why, "URLFETCH refused");
                    }
                    None
                }
            };
            let mut out = b"* URLFETCH ".to_vec();
            write_url(&mut out, &arg.url);
            out.push(b' ');
            match answer {
                Some(data) => out.extend_from_slice(&data),
                None => out.extend_from_slice(b"NIL"),
            }
            out.extend_from_slice(b"\r\n");
            self.conn.wbuf.extend_from_slice(&out);
            if let Err(e) = self.maybe_flush().await {
                tracing::debug!(?e, "URLFETCH flush");
                return Done::no(None, "Connection failed");
            }
        }
        Done::ok("URLFETCH completed")
    }
}

/// The data of one URLFETCH answer after `url SP`: a literal for a bare URL (RFC
/// 4467 §6), or RFC 5524 §3's `(…)` list; None (NIL) when the part is missing.
fn render(
    l: &crate::urlfetch::Located,
    params: Option<UrlFetchParams>,
    utf8: bool,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let Some(params) = params else {
        write_literal(&mut out, &l.body()?);
        return Some(out);
    };
    out.push(b'(');
    let mut items: Vec<Vec<u8>> = Vec::new();
    if params.body_part_structure {
        let mut item = b"BODYPARTSTRUCTURE ".to_vec();
        item.extend_from_slice(&l.body_part_structure(params.binary, utf8)?);
        items.push(item);
    }
    if params.body {
        let mut item = b"BODY ".to_vec();
        match l.body() {
            Some(b) => write_literal(&mut item, &b),
            None => item.extend_from_slice(b"NIL"),
        }
        items.push(item);
    }
    if params.binary {
        let mut item = b"BINARY ".to_vec();
        match l.binary() {
            // RFC 5524 §3 / RFC 3516 §4.3: literal8 only when it must be.
            Some(b) if b.contains(&0) => write_literal8(&mut item, &b),
            Some(b) => write_literal(&mut item, &b),
            None => item.extend_from_slice(b"NIL"),
        }
        items.push(item);
    }
    out.extend_from_slice(&items.join(&b' '));
    out.push(b')');
    Some(out)
}
