//! The upgrade to schema 8: an index of schema 7, whose `message_meta` rows carry
//! IMAP strings (ENVELOPE, BODY, BODYSTRUCTURE) and no shape, is migrated when the
//! store opens, every shape is recomputed from its file before anything is served,
//! and FETCH and SORT answer exactly as before — over every message of the golden
//! corpus (`message/tests/corpus`: CRLF, bare-LF and mixed files, encoded
//! `message/rfc822` parts, broken structures), stored as files and adopted.

mod common;
use common::corpus::corpus_messages;
use common::*;

use mailyard_store::Store;

const FETCH: &str = "FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE RFC822.SIZE BODY.PEEK[1] \
BODY.PEEK[1.MIME] BODY.PEEK[2] BODY.PEEK[2.1] BINARY.PEEK[1] BINARY.SIZE[2] \
BODY.PEEK[HEADER] BODY.PEEK[TEXT]<3.40> BODY.PEEK[]<0.100>)";

/// `message_meta` as schema 7 had it, filled with IMAP strings of the old form.
const TO_SCHEMA_7: &str = "
CREATE TABLE message_meta_7 (
    mailbox_id    INTEGER NOT NULL,
    uid           INTEGER NOT NULL,
    envelope      TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    bodystructure TEXT    NOT NULL,
    sent_date     INTEGER,
    subject       TEXT    NOT NULL DEFAULT '',
    from_addr     TEXT    NOT NULL DEFAULT '',
    to_addr       TEXT    NOT NULL DEFAULT '',
    cc_addr       TEXT    NOT NULL DEFAULT '',
    bcc_addr      TEXT    NOT NULL DEFAULT '',
    message_id    TEXT    NOT NULL DEFAULT '',
    in_reply_to   TEXT    NOT NULL DEFAULT '',
    refs          TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (mailbox_id, uid),
    FOREIGN KEY (mailbox_id, uid) REFERENCES message (mailbox_id, uid) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
INSERT INTO message_meta_7
    SELECT mailbox_id, uid, '(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)',
           '(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)',
           '(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)',
           sent_date, subject, from_addr, to_addr, cc_addr, bcc_addr, message_id,
           in_reply_to, refs
    FROM message_meta;
DROP TABLE message_meta;
ALTER TABLE message_meta_7 RENAME TO message_meta;
PRAGMA user_version = 7;
";

async fn fetch_all(port: u16) -> String {
    let mut raw = Raw::connect(port).await;
    raw.response().await;
    let r = raw.cmd("L", &format!("LOGIN {USER} {PASS}")).await;
    assert!(tagged(&r).starts_with("L OK"), "{r:?}");
    let r = raw.cmd("s", "EXAMINE INBOX").await;
    assert!(tagged(&r).starts_with("s OK"), "{r:?}");
    // Whatever they answer (a part with an unknown encoding makes BINARY's FETCH
    // end in NO), the same before and after.
    let mut all = raw.cmd("f", FETCH).await;
    let r = raw
        .cmd("t", "SORT (FROM DISPLAYFROM DATE SUBJECT) UTF-8 ALL")
        .await;
    assert!(tagged(&r).starts_with("t OK"), "{r:?}");
    all.extend(r);
    all.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_7_index_is_rebuilt_and_fetch_answers_the_same() {
    let server = start().await;
    let emls = corpus_messages();
    let cur = mailyard_store::maildir::user_root(server.data_dir(), &server.user()).join("cur");
    for (i, eml) in emls.iter().enumerate() {
        let name = format!("1700000000.M{i}P1.host:2,S");
        std::fs::copy(eml, cur.join(name)).expect("copy");
    }
    let (store, user) = (server.store.clone(), server.user());
    tokio::task::spawn_blocking(move || store.reconcile_blocking(&user, false))
        .await
        .expect("join")
        .expect("reconcile");
    let before = fetch_all(server.port).await;
    // Messages with a part of unknown encoding get no FETCH response (BINARY).
    let answered = before.matches(" FETCH (").count();
    assert!(answered >= emls.len() * 3 / 4, "{answered}: {before}");

    // The index as schema 7 left it.
    let db = server.data_dir().join("index.db");
    let conn = rusqlite::Connection::open(&db).expect("index");
    conn.execute_batch(TO_SCHEMA_7).expect("back to schema 7");
    drop(conn);

    let dir = server.data_dir().to_path_buf();
    let (store, report) = tokio::task::spawn_blocking(move || Store::open(&dir))
        .await
        .expect("join")
        .expect("open the schema 7 index");
    assert_eq!(
        report.shapes_rebuilt,
        emls.len(),
        "every message's shape is recomputed"
    );
    let version: i64 = rusqlite::Connection::open(&db)
        .expect("index")
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, 8);
    let config = mailyard_common::Config {
        data_dir: server.data_dir().to_path_buf(),
        ..mailyard_common::Config::default()
    };
    let (port, _, shutdown) = serve_store(config, store).await;
    let after = fetch_all(port).await;
    assert_eq!(after, before);
    shutdown.stop(std::time::Duration::from_secs(5)).await;
}
