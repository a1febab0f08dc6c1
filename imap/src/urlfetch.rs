//! IMAP URLs (RFC 5092) resolved to message data in this server's own store, for
//! the three commands that take them:
//!
//! - CATENATE (RFC 4469 §3): relative URLs against the logged-in user's mailboxes
//!   (and the selected mailbox for `;UID=…` alone), or absolute ones naming the same
//!   user or carrying a valid URLAUTH;
//! - URLFETCH (RFC 4467 §6, RFC 5524 §3): URLAUTH-authorized URLs only;
//! - BURL in submission (RFC 4468 §3.3): URLAUTH-authorized URLs, fetched
//!   in-process (no IMAP connection to ourselves), see [`fetch_for_submission`].
//!
//! A URL is ours when its host is the configured `hostname` or a domain we host.
//! Its user is the mailbox owner: `imap://fred@example.com/…` is
//! `fred@example.com`; a user holding `@` (`imap://fred%40example.com@host/…`) is
//! taken whole.
//!
//! Authorization (RFC 4467 §3, §6): the mechanism is `INTERNAL`; the URL has not
//! expired (`;EXPIRE=`); the access identifier admits the caller (`user+name`: that
//! user's IMAP session; `submit+name`: the submission server acting for that user;
//! `authuser`: any logged-in user of this server, IMAP or submission; `anonymous`:
//! anyone); and the token is the HMAC of the rump under the mailbox's key
//! (`mailyard_store::urlauth`). Any failure is one answer, [`Refused`], with no
//! detail for the client (NIL, BADURL, 554): which check failed is logged at debug.
//!
//! [`locate`] checks a URL with async store lookups, then hands the located message
//! to the caller's job in one store hop (`Store::with_message`): the job reads the
//! file's ranges on the blocking side.

use mailyard_message::{Kind, Shape};
use mailyard_store::{Address, MessageFile, Store, StoreError, Uid};

use crate::cmd::binary::{binary_message, binary_part};
use crate::cmd::section::{apply_partial, section_bytes, shape_of};
use crate::proto::body_render::part_structure;
use crate::proto::fetch::{Partial, Section, parse_section_spec};
use crate::proto::url::{Access, ImapUrl, Server};

/// Who resolves a URL.
#[derive(Debug, Clone)]
pub enum Who {
    /// An IMAP session of `user`, with its selected mailbox (the base of `;UID=…`
    /// URLs, RFC 4469 §3).
    Session {
        /// The logged-in user.
        user: Address,
        /// The selected mailbox's name, as stored.
        selected: Option<String>,
    },
    /// The submission server, for this authenticated user (RFC 4468 §3.3).
    Submit(Address),
}

/// What a URL must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// CATENATE: the caller's own messages need no authorization (RFC 4469 §3).
    Own,
    /// URLFETCH and BURL: a URLAUTH-authorized URL (RFC 4467 §6, RFC 4468 §3.3).
    Authorized,
}

/// Why a URL gives no data. The client learns only that it failed.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not a URL naming one message part (RFC 5092).
    #[error("not an IMAP message URL: {0:?}")]
    Syntax(crate::proto::url::UrlError),
    /// Another server's URL.
    #[error("not a URL of this server")]
    NotOurs,
    /// No authorization, a wrong token, a mechanism we do not know, or an access
    /// identifier that does not admit the caller.
    #[error("not authorized")]
    NotAuthorized,
    /// `;EXPIRE=` has passed (RFC 4467 §3).
    #[error("expired")]
    Expired,
    /// No such mailbox, UIDVALIDITY, message or section.
    #[error("no such message or part")]
    NoMessage,
    /// The store failed (logged by the caller as a server error).
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// A message located by a URL, with the part it names.
#[derive(Debug)]
pub struct Located {
    /// The message file, open for positioned reads.
    pub file: MessageFile,
    /// Its shape, as stored at delivery.
    pub shape: Shape,
    /// `;SECTION=`, parsed (empty: the whole message).
    pub section: Section,
    /// `;PARTIAL=`.
    pub partial: Option<Partial>,
}

impl Located {
    /// The part's octets as `BODY[section]<partial>` returns them (RFC 4469 §3:
    /// "as if the literal returned in a FETCH BODY response"); None when the
    /// section does not exist (or the file cannot be read, which is logged).
    pub fn body(&self) -> Option<Vec<u8>> {
        section_bytes(&self.file, Some(&self.shape), &self.section, self.partial)
            .map_err(|e| tracing::warn!(error = %e, path = %self.file.path().display(), "URL read"))
            .ok()
            .flatten()
    }

    /// The part decoded (RFC 5524 §3 `BINARY`, RFC 3516): a leaf without its
    /// Content-Transfer-Encoding; a message (the whole one or a `message/rfc822`
    /// part) with every encoded leaf decoded, as Dovecot does. None for a
    /// HEADER/TEXT/MIME section, a missing part or an unknown encoding (RFC 5524 §3
    /// returns NIL then).
    pub(crate) fn binary(&self) -> Option<Vec<u8>> {
        if self.section.text.is_some() {
            return None;
        }
        let part = &self.section.part;
        let is_message = part.is_empty()
            || matches!(
                mailyard_message::locate(&self.shape, part)?.part.kind,
                Kind::Message(_)
            );
        let data = if is_message {
            let body = section_bytes(&self.file, Some(&self.shape), &self.section, None).ok()??;
            binary_message(&body, true)
        } else {
            binary_part(&self.file, &self.shape, part).ok()??.ok()?
        };
        Some(apply_partial(&data, self.partial).to_vec())
    }

    /// RFC 5524 §3 `BODYPARTSTRUCTURE`: the part's structure as FETCH
    /// BODYSTRUCTURE shows it (`utf8`: the session accepts UTF-8, RFC 6855); with
    /// `binary` (BINARY asked for too) the structure of the decoded content, its
    /// sizes and lines those of the decoded octets while the encodings stay as
    /// stored, which is what Dovecot answers (imaptest `urlauth-binary`). None for a
    /// HEADER/TEXT/MIME section or a missing part.
    pub(crate) fn body_part_structure(&self, binary: bool, utf8: bool) -> Option<Vec<u8>> {
        if self.section.text.is_some() {
            return None;
        }
        let decoded;
        let shape = if binary {
            let whole = self.file.read_wire(0..self.file.len()).ok()?;
            decoded = Shape::parse(&binary_message(&whole, false));
            &decoded
        } else {
            &self.shape
        };
        let mut out = Vec::new();
        part_structure(&mut out, shape, &self.section.part, utf8).then_some(out)
    }
}

/// Resolves `url` for `who`: checks it (see the module documentation), opens the
/// message it names and runs `job` on it (on the store's blocking side, where the
/// file may be read).
pub async fn locate<T: Send + 'static>(
    store: &Store,
    hostname: &str,
    url: &str,
    who: &Who,
    need: Need,
    job: impl FnOnce(&Located) -> T + Send + 'static,
) -> Result<T, Refused> {
    let parsed = ImapUrl::parse(url).map_err(Refused::Syntax)?;
    let owner = authorize(store, hostname, url, &parsed, who, need).await?;
    let mailbox = match (&parsed.mailbox, who) {
        (Some(m), _) => m.clone(),
        (None, Who::Session { selected, .. }) => selected.clone().ok_or(Refused::NoMessage)?,
        (None, Who::Submit(_)) => return Err(Refused::NoMessage),
    };
    let section = match &parsed.section {
        Some(s) => parse_section_spec(s.as_bytes()).map_err(|_| Refused::NoMessage)?,
        None => Section::default(),
    };
    let partial = parsed.partial.map(|(start, count)| Partial {
        start,
        count: count.unwrap_or(u64::MAX),
    });
    let uidvalidity = parsed.uidvalidity;
    store
        .with_message(&owner, &mailbox, Uid(parsed.uid), move |opened| {
            let opened = opened.ok_or(Refused::NoMessage)?;
            if uidvalidity.is_some_and(|v| v != opened.mailbox.uidvalidity.0) {
                return Err(Refused::NoMessage);
            }
            let file = opened.file;
            let shape = shape_of(opened.shape.as_deref(), &file)
                .map_err(|e| Refused::Store(file.error(e)))?;
            Ok(job(&Located {
                file,
                shape,
                section,
                partial,
            }))
        })
        .await?
}

/// RFC 4468 §3.3 BURL: the octets `url` names (`BODY[section]<partial>`), for the
/// submission server acting for `user`. The URL must be URLAUTH-authorized and
/// admit `submit+user` (or `authuser`/`anonymous`).
pub async fn fetch_for_submission(
    store: &Store,
    hostname: &str,
    url: &str,
    user: &Address,
) -> Result<Vec<u8>, Refused> {
    let who = Who::Submit(user.clone());
    locate(store, hostname, url, &who, Need::Authorized, Located::body)
        .await?
        .ok_or(Refused::NoMessage)
}

/// Whether `host` names this server: its hostname or a domain it hosts.
pub async fn is_our_host(store: &Store, hostname: &str, host: &str) -> bool {
    host.eq_ignore_ascii_case(hostname) || store.is_local_domain(host).await.unwrap_or(false)
}

/// The owner an absolute URL names (see the module documentation).
pub(crate) fn url_owner(server: &Server) -> Option<Address> {
    let user = server.user.as_deref()?;
    if user.contains('@') {
        Address::parse(user).ok()
    } else {
        Address::parse(&format!("{user}@{}", server.host)).ok()
    }
}

/// The owner whose mailbox the URL may read, after every check of RFC 4467 §6 (or
/// RFC 4469 §3 for the caller's own messages).
async fn authorize(
    store: &Store,
    hostname: &str,
    url: &str,
    parsed: &ImapUrl,
    who: &Who,
    need: Need,
) -> Result<Address, Refused> {
    let caller = match who {
        Who::Session { user, .. } | Who::Submit(user) => user,
    };
    let Some((mechanism, token)) = &parsed.verifier else {
        // No authorization: only the caller's own messages, and only for CATENATE.
        if need == Need::Authorized || parsed.access.is_some() {
            return Err(Refused::NotAuthorized);
        }
        if let Some(server) = &parsed.server {
            if !is_our_host(store, hostname, &server.host).await {
                return Err(Refused::NotOurs);
            }
            if url_owner(server).as_ref() != Some(caller) {
                return Err(Refused::NotAuthorized);
            }
        }
        return Ok(caller.clone());
    };
    let server = parsed.server.as_ref().ok_or(Refused::NotAuthorized)?;
    if !is_our_host(store, hostname, &server.host).await {
        return Err(Refused::NotOurs);
    }
    // RFC 4467 §7: INTERNAL is the one mechanism we issue.
    if mechanism != "INTERNAL" {
        return Err(Refused::NotAuthorized);
    }
    if parsed
        .expire
        .is_some_and(|t| t <= mailyard_common::time::now())
    {
        return Err(Refused::Expired);
    }
    let admitted = match (&parsed.access, who) {
        (Some(Access::Anonymous | Access::AuthUser), _) => true,
        (Some(Access::User(u)), Who::Session { user, .. }) => same_user(u, user),
        (Some(Access::Submit(u)), Who::Submit(user)) => same_user(u, user),
        _ => false,
    };
    if !admitted {
        return Err(Refused::NotAuthorized);
    }
    let owner = url_owner(server).ok_or(Refused::NotAuthorized)?;
    let mailbox = parsed.mailbox.as_deref().ok_or(Refused::NoMessage)?;
    if !store
        .urlauth_check(&owner, mailbox, parsed.rump(url), token)
        .await?
    {
        return Err(Refused::NotAuthorized);
    }
    Ok(owner)
}

/// An access identifier's user (RFC 4467 §3) against a logged-in user.
fn same_user(access_user: &str, user: &Address) -> bool {
    Address::parse(access_user).is_ok_and(|a| &a == user)
}
