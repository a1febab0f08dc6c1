//! QUOTA (RFC 9208): one quota root per user, "", with STORAGE (in KiB, RFC 9208
//! §5.1); the limit is the account's quota (0: none, then no resource limits are
//! reported). SETQUOTA is refused.

use mailyard_store::Address;

use crate::proto::response::{ResponseCode, write_string};
use crate::session::{Done, Session, store_error};

impl Session {
    /// The user's quota in bytes (0: unlimited) and usage (bytes, messages).
    async fn quota_usage(&self, user: &Address) -> Result<(u64, u64, u64), Done> {
        let store = self.store().clone();
        let user = user.clone();
        let r = tokio::task::spawn_blocking(move || {
            let quota = store.accounts().user(&user)?.map_or(0, |u| u.quota);
            let (bytes, count) = store.usage(&user)?;
            Ok::<_, mailyard_store::StoreError>((quota, bytes, count))
        })
        .await;
        match r {
            Ok(Ok(x)) => Ok(x),
            Ok(Err(e)) => Err(store_error(e)),
            Err(_) => Err(Done::no(Some(ResponseCode::ServerBug), "Internal error")),
        }
    }

    /// NO [OVERQUOTA] when adding `extra` bytes would exceed the user's quota
    /// (RFC 9208 §5.1: APPEND and COPY must fail). None when it fits.
    pub(crate) async fn over_quota(&self, user: &Address, extra: u64) -> Option<Done> {
        match self.quota_usage(user).await {
            Ok((quota, bytes, _)) if quota > 0 && bytes.saturating_add(extra) > quota => {
                Some(Done::no(Some(ResponseCode::OverQuota), "Quota exceeded"))
            }
            Ok(_) => None,
            Err(done) => Some(done),
        }
    }

    /// `* QUOTA "" (STORAGE used limit)` in KiB (RFC 9208 §5.1); `()` without a
    /// limit.
    fn write_quota(&mut self, quota: u64, bytes: u64) {
        let mut out = b"* QUOTA \"\" (".to_vec();
        if quota > 0 {
            out.extend_from_slice(
                format!("STORAGE {} {}", bytes.div_ceil(1024), quota / 1024).as_bytes(),
            );
        }
        out.extend_from_slice(b")\r\n");
        self.wbuf.extend_from_slice(&out);
    }

    /// GETQUOTA root: only the root "" exists. Authenticated and selected states.
    /// RFC 9208 §4.1.1.
    pub(crate) async fn handle_getquota(&mut self, root: String) -> Done {
        let Some(user) = self.user() else {
            return Done::bad("Not logged in");
        };
        if !root.is_empty() {
            return Done::no(Some(ResponseCode::Nonexistent), "No such quota root");
        }
        match self.quota_usage(&user).await {
            Ok((quota, bytes, _)) => {
                self.write_quota(quota, bytes);
                Done::ok("GETQUOTA completed")
            }
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
        let store = self.store().clone();
        let u = user.clone();
        let n = name.clone();
        match tokio::task::spawn_blocking(move || store.mailbox(&u, &n)).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                return Done::no(Some(ResponseCode::Nonexistent), "No such mailbox");
            }
            Ok(Err(e)) => return store_error(e),
            Err(_) => return Done::no(Some(ResponseCode::ServerBug), "Internal error"),
        }
        match self.quota_usage(&user).await {
            Ok((quota, bytes, _)) => {
                let mut out = b"* QUOTAROOT ".to_vec();
                self.write_mailbox(&mut out, &name);
                out.push(b' ');
                write_string(&mut out, b"", false);
                out.extend_from_slice(b"\r\n");
                self.wbuf.extend_from_slice(&out);
                self.write_quota(quota, bytes);
                Done::ok("GETQUOTAROOT completed")
            }
            Err(done) => done,
        }
    }
}
