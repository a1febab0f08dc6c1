//! `/metrics`: the server's counters ([`Metrics::render`], with the writer's batch
//! sizes) and what the store knows about itself (index and mail sizes, queue length), in the
//! Prometheus text exposition format 0.0.4.

use mailyard_common::metrics::{Metrics, write_header, write_sample};
use mailyard_store::Store;
use mailyard_store::stats::Usage;

/// The whole page. `usage` is None when the index could not be read (then its gauges
/// are left out and `mailyard_store_up` is 0).
pub fn render(metrics: &Metrics, store: &Store, usage: Option<Usage>) -> String {
    let mut out = String::with_capacity(8192);
    metrics.render(&mut out);
    let name = "mailyard_auth_password_verifications_total";
    write_header(
        &mut out,
        name,
        "counter",
        "argon2id password verifications run (logins the auth cache or a verification \
         under way for the same credentials did not answer).",
    );
    write_sample(
        &mut out,
        name,
        &[],
        store.accounts().password_verifications(),
    );
    let name = "mailyard_store_up";
    write_header(
        &mut out,
        name,
        "gauge",
        "1 when the index answered this scrape's read.",
    );
    write_sample(&mut out, name, &[], u8::from(usage.is_some()));
    if let Some(u) = usage {
        for (name, help, v) in [
            (
                "mailyard_index_bytes",
                "Size of index.db and its -wal file.",
                u.index_bytes,
            ),
            (
                "mailyard_maildir_bytes",
                "Bytes of all stored messages (the maildir trees' mail).",
                u.message_bytes,
            ),
            (
                "mailyard_messages_stored",
                "Messages in all mailboxes.",
                u.messages,
            ),
            (
                "mailyard_queue_length",
                "Messages in the relay queue.",
                u.queue_length,
            ),
        ] {
            write_header(&mut out, name, "gauge", help);
            write_sample(&mut out, name, &[], v);
        }
    }
    out
}
