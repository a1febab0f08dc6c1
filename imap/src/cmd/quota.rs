//! QUOTA (RFC 9208): a user with a quota has one quota root, "", holding every
//! mailbox, with one resource, STORAGE (RFC 9208 §5.1, in units of 1024 octets); the
//! limit is the account's quota. A user without one (quota 0) has no quota root at
//! all: GETQUOTAROOT names none (§4.3.2 allows an empty list) and GETQUOTA "" is
//! NO [NONEXISTENT]. There is never a `QUOTA` response with an empty resource list: the
//! formal syntax (`quota_list = "(" quota_resource *(SP quota_resource) ")"`) has
//! none, and Thunderbird drops the connection on `* QUOTA "" ()`. SETQUOTA is
//! refused.

use mailyard_store::Address;

use crate::proto::response::{ResponseCode, write_string};
use crate::session::{Done, Session, store_error};

impl Session {
    /// The user's quota in bytes (0: unlimited) and usage (bytes, messages; 0 when
    /// unlimited).
    async fn quota_usage(&self, user: &Address) -> Result<(u64, u64, u64), Done> {
        // The quota and, with one, the usage (a sum over every message): one hop.
        self.store().quota_usage(user).await.map_err(store_error)
    }

    /// NO [OVERQUOTA] when adding `extra` bytes would exceed the user's quota
    /// (RFC 9208 §5.1: COPY must fail; the rule is the store's, `Store::within_quota`,
    /// which APPEND meets inside `Store::append_many_claiming`). None when it fits.
    pub(crate) async fn over_quota(&self, user: &Address, extra: u64) -> Option<Done> {
        self.store()
            .within_quota(user, extra)
            .await
            .err()
            .map(store_error)
    }

    /// GETQUOTA root: the root "" when the user has a quota, else none exists.
    /// Authenticated and selected states. RFC 9208 §4.1.1.
    pub(crate) async fn handle_getquota(&mut self, root: String) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        match self.quota_usage(&user).await {
            Ok((quota, bytes, _)) => match quota_response(&root, quota, bytes) {
                Some(line) => {
                    self.conn.wbuf.extend_from_slice(&line);
                    Done::ok("GETQUOTA completed")
                }
                None => Done::no(Some(ResponseCode::Nonexistent), "No such quota root"),
            },
            Err(done) => done,
        }
    }

    /// SETQUOTA: refused with NO [NOPERM]; quotas are set by the administrator.
    /// Authenticated and selected states. RFC 9208 §4.1.3.
    pub(crate) fn handle_setquota(&mut self) -> Done {
        Done::no(
            Some(ResponseCode::NoPerm),
            "Quotas are set by the administrator",
        )
    }

    /// GETQUOTAROOT mailbox: every mailbox is under the root "". Authenticated and
    /// selected states. RFC 9208 §4.1.2.
    pub(crate) async fn handle_getquotaroot(&mut self, mailbox: String) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        let name = match self.decode_mailbox(&mailbox) {
            Ok(n) => n,
            Err(done) => return done,
        };
        match self.store().mailbox(&user, &name).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Done::no(Some(ResponseCode::Nonexistent), "No such mailbox");
            }
            Err(e) => return store_error(e),
        }
        match self.quota_usage(&user).await {
            Ok((quota, bytes, _)) => {
                let mut out = b"* QUOTAROOT ".to_vec();
                self.write_mailbox(&mut out, &name);
                if quota > 0 {
                    out.push(b' ');
                    write_string(&mut out, QUOTA_ROOT.as_bytes(), false);
                }
                out.extend_from_slice(b"\r\n");
                if let Some(line) = quota_response(QUOTA_ROOT, quota, bytes) {
                    out.extend_from_slice(&line);
                }
                self.conn.wbuf.extend_from_slice(&out);
                Done::ok("GETQUOTAROOT completed")
            }
            Err(done) => done,
        }
    }
}

/// The one quota root a user with a quota has (RFC 9208 leaves the names to the
/// server).
const QUOTA_ROOT: &str = "";

/// The `* QUOTA` response for `root` (RFC 9208 §4.3.1): `(STORAGE used limit)` in
/// units of 1024 octets, usage rounded up and limit down (§5.1). None when that root
/// does not exist: a quota of 0 means no quota, so no root and no QUOTA line.
fn quota_response(root: &str, quota: u64, bytes: u64) -> Option<Vec<u8>> {
    if quota == 0 || root != QUOTA_ROOT {
        return None;
    }
    let mut out = b"* QUOTA ".to_vec();
    write_string(&mut out, root.as_bytes(), false);
    out.extend_from_slice(
        format!(" (STORAGE {} {})\r\n", bytes.div_ceil(1024), quota / 1024).as_bytes(),
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_response_table() {
        let cases: &[(&str, u64, u64, Option<&str>)] = &[
            // (root, quota bytes, used bytes, response)
            ("", 0, 0, None),
            ("", 0, 5000, None),
            ("", 10_240, 0, Some("* QUOTA \"\" (STORAGE 0 10)\r\n")),
            ("", 10_240, 1, Some("* QUOTA \"\" (STORAGE 1 10)\r\n")),
            ("", 10_240, 2048, Some("* QUOTA \"\" (STORAGE 2 10)\r\n")),
            ("", 10_000, 20_000, Some("* QUOTA \"\" (STORAGE 20 9)\r\n")),
            ("INBOX", 10_240, 0, None),
            ("!partition/sda4", 10_240, 0, None),
        ];
        for &(root, quota, used, want) in cases {
            let got = quota_response(root, quota, used);
            assert_eq!(
                got.as_deref()
                    .map(|b| std::str::from_utf8(b).unwrap_or("?")),
                want,
                "{root:?} {quota} {used}"
            );
            // Never an empty resource list (RFC 9208 formal syntax, quota_list).
            if let Some(line) = got {
                assert!(!line.windows(2).any(|w| w == b"()"));
            }
        }
    }
}
