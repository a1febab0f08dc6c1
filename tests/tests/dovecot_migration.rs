//! Moving from Dovecot without a re-download (README "Moving from Dovecot"): a tree
//! written by Debian's Dovecot is imported while the server runs, and every mailbox
//! then looks the same over IMAP on both servers — folders, subscriptions,
//! UIDVALIDITY, UIDNEXT, UIDs, flags and keywords, RFC822.SIZE and BODY[] — so a
//! client's cache stays valid. The way back, `export maildir`, is checked the same
//! way with Dovecot reading the exported tree. And a plain maildir without Dovecot's
//! files (mutt, getmail) gets fresh UIDs and its flags.
//!
//! Dovecot runs as its `imap` binary, preauthenticated over a pipe (what its daemon
//! runs after a login; Python's `imaplib.IMAP4_stream`), on a private config: no
//! daemon, no port, nothing of the machine's Dovecot touched. Without Dovecot
//! (`apt-get install -y dovecot-imapd`) the Dovecot tests are skipped, saying so.

use std::path::{Path, PathBuf};

use mailyard_store::import::{ImportOptions, Transfer};
use mailyard_store::{Address, Store};
use mailyard_tests::{TestServer, python};

const SCRIPT: &str = include_str!("dovecot_imap.py");
const IMAP_BIN: &str = "/usr/lib/dovecot/imap";
const USER: &str = "alice@example.com";
const PASS: &str = "a good password";
/// The mailboxes `user add` creates (empty, and only on mailyard).
const DEFAULTS: &str = "Sent,Drafts,Trash,Junk,Archive";

/// A private Dovecot over one maildir.
struct Dovecot {
    conf: PathBuf,
}

impl Dovecot {
    /// None (the reason printed) when Dovecot is not installed.
    fn new(dir: &Path, maildir: &Path) -> Option<Dovecot> {
        if !Path::new(IMAP_BIN).exists() {
            eprintln!(
                "SKIPPED: {IMAP_BIN} is missing (apt-get install -y dovecot-imapd); \
                 the Dovecot migration tests need a real Dovecot"
            );
            return None;
        }
        // Dovecot never opens mail as root: as root, the mail belongs to nobody.
        let (uid, gid) = mail_ids();
        let conf = dir.join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = /dev/stderr\n\
                 ssl = no\nprotocols = imap\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n\
                 mail_uid = {uid}\nmail_gid = {gid}\nmail_location = maildir:{m}\n",
                d = dir.display(),
                m = maildir.display()
            ),
        )
        .expect("write dovecot.conf");
        Some(Dovecot { conf })
    }

    /// The command line Python runs to talk to this Dovecot.
    fn command(&self) -> String {
        format!(
            "env USER={USER} HOME=/nonexistent {IMAP_BIN} -c {}",
            self.conf.display()
        )
    }

    /// Gives the tree to the user Dovecot opens mail as.
    fn own(&self, tree: &Path) {
        let (uid, gid) = mail_ids();
        let st = std::process::Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(tree)
            .status()
            .expect("chown");
        assert!(st.success(), "chown -R {}", tree.display());
    }
}

/// The uid and gid Dovecot accesses mail as: ours, or nobody's when we are root.
fn mail_ids() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt as _;
    let me = std::fs::metadata("/proc/self").expect("/proc/self");
    if me.uid() == 0 {
        (65534, 65534)
    } else {
        (me.uid(), me.gid())
    }
}

/// A temp dir others may enter (Dovecot's mail user reaches the tree through it).
fn open_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

async fn run(mode: &str, dovecot: &Dovecot, server: &TestServer, extra_ok: &str) -> String {
    let (ok, out) = python(
        SCRIPT,
        &[
            ("MODE", mode.to_string()),
            ("DOVECOT", dovecot.command()),
            ("IMAP", server.addr("imap").port().to_string()),
            ("USER", USER.to_string()),
            ("PASS", PASS.to_string()),
            ("EXTRA_OK", extra_ok.to_string()),
        ],
    )
    .await;
    assert!(ok, "{mode} failed:\n{out}");
    out
}

/// What `mailyard import maildir` runs, from another store on the same data dir (as
/// the CLI process opens it while `serve` runs).
async fn import(
    server: &TestServer,
    source: &Path,
    opts: ImportOptions,
) -> mailyard_store::Result<mailyard_store::import::ImportReport> {
    let data_dir = server.dir.path().to_path_buf();
    let source = source.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let (cli, _) = Store::open(&data_dir).expect("open the store");
        let user = Address::parse(USER).expect("address");
        cli.import_maildir_blocking(&user, &source, opts)
    })
    .await
    .expect("join")
}

fn opts(transfer: Transfer) -> ImportOptions {
    ImportOptions {
        transfer,
        dry_run: false,
        merge: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_tree_imported_then_exported_looks_the_same() {
    let work = open_tempdir();
    let tree = work.path().join("vmail");
    std::fs::create_dir_all(&tree).expect("mkdir");
    let Some(dovecot) = Dovecot::new(work.path(), &tree) else {
        return;
    };
    dovecot.own(&tree);
    let server = TestServer::start("").await;
    server.add_user(USER, PASS).await;
    let out = run("build", &dovecot, &server, "").await;
    assert!(out.contains("built"), "{out}");
    // Dovecot kept its UIDs in dovecot-uidlist and its files with bare LF.
    let uidlist = std::fs::read_to_string(tree.join("dovecot-uidlist")).expect("uidlist");
    assert!(uidlist.starts_with("3 V"), "{uidlist}");

    // A dry run changes nothing; then the import (links: same filesystem).
    let mut dry = opts(Transfer::Auto);
    dry.dry_run = true;
    let report = import(&server, &tree, dry).await.expect("dry run");
    assert_eq!(report.mailboxes.len(), 6, "{report:?}");
    assert_eq!(server.mailbox_contents(USER, "INBOX").await.len(), 0);
    let report = import(&server, &tree, opts(Transfer::Auto))
        .await
        .expect("import");
    assert_eq!(report.linked, 8 + 2 + 5 * 3 - 1, "{report:?}");
    let inbox = report
        .mailboxes
        .iter()
        .find(|m| m.name == "INBOX")
        .expect("INBOX");
    assert_eq!((inbox.messages, inbox.uids_kept), (8, 8), "{report:?}");
    // A second import into the now non-empty account is refused.
    let again = import(&server, &tree, opts(Transfer::Auto)).await;
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.to_string().contains("--merge")),
        "{again:?}"
    );

    // Both servers over IMAP: the same, but for mailyard's empty default folders.
    let out = run("compare", &dovecot, &server, DEFAULTS).await;
    println!("import:\n{out}");

    // The way back: an exported tree Dovecot takes over as it is.
    let back = work.path().join("exported");
    let data_dir = server.dir.path().to_path_buf();
    let back2 = back.clone();
    let report = tokio::task::spawn_blocking(move || {
        let (cli, _) = Store::open(&data_dir).expect("open");
        cli.export_maildir_blocking(&Address::parse(USER).expect("address"), &back2)
    })
    .await
    .expect("join")
    .expect("export");
    assert_eq!(report.mailboxes.len(), 11, "{report:?}");
    dovecot.own(&back);
    let dv2 = work.path().join("dv2");
    std::fs::create_dir_all(&dv2).expect("mkdir");
    let exported = Dovecot::new(&dv2, &back).expect("dovecot");
    let out = run("compare", &exported, &server, "").await;
    println!("export:\n{out}");
    server.stop().await;
}

/// A mutt/getmail maildir: no Dovecot files. UIDs are new (in file name order, which
/// is delivery order for maildir(5) names), flags come from the `:2,` suffix, bare-LF
/// files are served with CRLF and sizes counted that way. In place (`Transfer::Move`)
/// the tree is moved into the data dir. Then `merge` adds a second tree to the
/// non-empty account with UIDs after the existing ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_maildir_gets_fresh_uids_and_its_flags() {
    let server = TestServer::start("").await;
    server.add_user(USER, PASS).await;
    let src = tempfile::tempdir_in(server.dir.path().parent().unwrap_or(Path::new("/tmp")))
        .expect("tempdir");
    let tree = src.path().join("Mail");
    let files: &[(&str, &str, &[u8])] = &[
        (
            "cur",
            "1700000002.M1P9.host:2,S",
            b"Subject: two\n\nbody two\n",
        ),
        (
            "cur",
            "1700000001.M1P9.host:2,FR",
            b"Subject: one\r\n\r\nbody one\r\n",
        ),
        (
            "new",
            "1700000003.M1P9.host",
            b"Subject: three\n\nthree\nlines\n",
        ),
        (
            "cur",
            "1700000004.M1P9.host:2,DTa",
            b"Subject: four\n\nfour\n",
        ),
    ];
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(tree.join(sub)).expect("mkdir");
        std::fs::create_dir_all(tree.join(".Lists.rust").join(sub)).expect("mkdir");
    }
    for (sub, name, body) in files {
        std::fs::write(tree.join(sub).join(name), body).expect("write");
    }
    std::fs::write(
        tree.join(".Lists.rust/cur/1700000005.M1P9.host:2,S"),
        b"Subject: list\n\nlist mail\n",
    )
    .expect("write");
    std::fs::write(tree.join("subscriptions"), "INBOX\nLists.rust\n").expect("write");

    let report = import(&server, &tree, opts(Transfer::Move))
        .await
        .expect("import");
    assert_eq!(report.moved, 5, "{report:?}");
    assert!(!tree.exists(), "moved in place");
    let inbox = server.mailbox_contents(USER, "INBOX").await;
    let got: Vec<(u32, String, Vec<u8>)> = inbox
        .iter()
        .map(|m| (m.info.uid.0, m.flag_letters(), m.bytes.clone()))
        .collect();
    let lf = |b: &[u8]| mailyard_store::maildir::wire_form(b).into_owned();
    assert_eq!(
        got.iter()
            .map(|(u, f, _)| (*u, f.clone()))
            .collect::<Vec<_>>(),
        vec![
            (1, "FR".into()),
            (2, "S".into()),
            (3, "".into()),
            (4, "DT".into())
        ],
    );
    // The files keep their bytes (bare LF); sizes count CRLF.
    assert_eq!(got[1].2, files[0].2);
    for (m, (_, _, raw)) in inbox.iter().zip([files[1], files[0], files[2], files[3]]) {
        assert_eq!(m.info.size, lf(raw).len() as u64, "uid {}", m.info.uid.0);
    }
    // Over IMAP: UIDs, flags, sizes and CRLF bodies; the subscriptions.
    let (ok, out) = python(
        r#"
import imaplib, os
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']))
m.login(os.environ['USER'], os.environ['PASS'])
m.select('INBOX')
typ, data = m.uid('FETCH', '1:*', '(UID FLAGS RFC822.SIZE BODY.PEEK[])')
import re
for item in data:
    if isinstance(item, tuple):
        assert b'\n' not in item[1].replace(b'\r\n', b''), item
        head = item[0].decode()
        flags = sorted(f for f in re.search(r'FLAGS \(([^)]*)\)', head).group(1).split() if f != '\\Recent')
        print('UID %s FLAGS %s SIZE %s LEN %d' % (re.search(r'UID (\d+)', head).group(1), ''.join(flags),
              re.search(r'RFC822.SIZE (\d+)', head).group(1), len(item[1])))
print(m.lsub('""', '*'))
print(m.status('Lists.rust', '(MESSAGES UIDNEXT)'))
"#,
        &[
            ("IMAP", server.addr("imap").port().to_string()),
            ("USER", USER.to_string()),
            ("PASS", PASS.to_string()),
        ],
    )
    .await;
    assert!(ok, "{out}");
    for (uid, flags, (_, _, raw)) in [
        (1, "\\Answered\\Flagged", files[1]),
        (2, "\\Seen", files[0]),
        (3, "", files[2]),
        (4, "\\Deleted\\Draft", files[3]),
    ] {
        let n = lf(raw).len();
        let line = format!("UID {uid} FLAGS {flags} SIZE {n} LEN {n}");
        assert!(out.contains(&line), "{line} in:\n{out}");
    }
    assert!(
        out.contains("\"Lists.rust\" (MESSAGES 1 UIDNEXT 2)"),
        "{out}"
    );
    assert!(out.contains("Lists.rust"), "{out}");

    // Merge: the account has mail now; a second tree goes after it.
    let more = src.path().join("More");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(more.join(sub)).expect("mkdir");
    }
    std::fs::write(
        more.join("cur/1700000009.M1P9.host:2,S"),
        b"Subject: late\n\nx\n",
    )
    .expect("write");
    std::fs::write(
        more.join("dovecot-uidlist"),
        "3 V77 N2 Gx\n1 :1700000009.M1P9.host\n",
    )
    .expect("write");
    let refused = import(&server, &more, opts(Transfer::Copy)).await;
    assert!(refused.is_err(), "{refused:?}");
    let mut merge = opts(Transfer::Copy);
    merge.merge = true;
    let report = import(&server, &more, merge).await.expect("merge");
    assert_eq!(report.copied, 1, "{report:?}");
    assert!(
        more.join("cur/1700000009.M1P9.host:2,S").exists(),
        "a copy leaves the source"
    );
    let inbox = server.mailbox_contents(USER, "INBOX").await;
    let before = inbox
        .iter()
        .find(|m| m.info.uid.0 == 4)
        .map(|m| m.info.uid.0);
    assert_eq!(before, Some(4));
    assert_eq!(
        inbox.last().map(|m| (m.info.uid.0, m.flag_letters())),
        Some((5, "S".into()))
    );
    let mb = server
        .store()
        .mailbox_blocking(&Address::parse(USER).expect("a"), "INBOX")
        .expect("mailbox")
        .expect("INBOX");
    assert_ne!(
        mb.uidvalidity.0, 77,
        "a merge keeps the mailbox's UIDVALIDITY"
    );
    let problems = server.store().check().expect("check");
    assert!(problems.is_empty(), "{problems:?}");
    server.stop().await;
}
