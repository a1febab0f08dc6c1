//! Issue 9 item 8: a DATA transfer that is never finished must not hold the message
//! in memory. Past `SPOOL_THRESHOLD` (1 MiB) the session writes what it received to a
//! file under `data_dir/tmp/`; 250 still comes only once the message is durable.
//! Its own test binary, so the process's memory is this test's alone.

use std::time::Duration;

use mailyard_tests::{TestServer, memory_kib, wait_until};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const SESSIONS: usize = 6;
const SIZE: usize = 16 << 20;

/// Bytes in the files under `data_dir/tmp/`.
fn spooled(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir.join("tmp"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(60), r.read_line(&mut line))
            .await
            .expect("reply within 60 s")
            .expect("read");
        assert!(n > 0, "closed after {all:?}");
        all.push_str(&line);
        if line.as_bytes().get(3) == Some(&b' ') {
            return all;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_data_is_spooled_to_disk_not_held_in_memory() {
    let s = TestServer::start("").await;
    s.add_user("alice@example.com", "pw").await;
    let port = s.addr("smtp").port();
    let before = memory_kib("VmRSS");
    let mut line = vec![b'x'; 998];
    line.extend_from_slice(b"\r\n");
    let block: Vec<u8> = line.repeat(64);
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (r, mut w) = tcp.into_split();
        let mut r = BufReader::new(r);
        assert!(reply(&mut r).await.starts_with("220"));
        for cmd in [
            "EHLO client.example.net\r\n".to_string(),
            format!("MAIL FROM:<s{i}@example.net>\r\n"),
            "RCPT TO:<alice@example.com>\r\n".to_string(),
            "DATA\r\n".to_string(),
        ] {
            w.write_all(cmd.as_bytes()).await.expect("write");
            let text = reply(&mut r).await;
            assert!(text.starts_with('2') || text.starts_with("354"), "{text}");
        }
        w.write_all(format!("Subject: big {i}\r\n\r\n").as_bytes())
            .await
            .expect("write");
        for _ in 0..SIZE.div_ceil(block.len()) {
            w.write_all(&block).await.expect("write");
        }
        sessions.push((r, w));
    }
    // Everything written has been read but for what the sockets' buffers hold.
    let dir = s.dir.path().to_path_buf();
    let want = (SESSIONS * (SIZE - (6 << 20))) as u64;
    wait_until(
        Duration::from_secs(60),
        || spooled(&dir) >= want,
        || {
            format!(
                "{} of {want} octets spooled under data_dir/tmp; resident memory grew by {} KiB",
                spooled(&dir),
                memory_kib("VmRSS").saturating_sub(before)
            )
        },
    )
    .await;
    let grown = memory_kib("VmRSS").saturating_sub(before);
    eprintln!("{SESSIONS} unfinished DATA of {SIZE} octets: resident memory grew by {grown} KiB");
    assert!(
        grown < 48 * 1024,
        "resident memory grew by {grown} KiB for {SESSIONS} unfinished messages"
    );

    // One of them ends: 250 once durable, the whole message stored, its spool gone.
    let (mut r, mut w) = sessions.pop().expect("a session");
    w.write_all(b".\r\n").await.expect("write");
    let text = reply(&mut r).await;
    assert!(text.starts_with("250 "), "{text}");
    let got = s.mailbox_contents("alice@example.com", "INBOX").await;
    assert_eq!(got.len(), 1);
    let body = mailyard_tests::without_trace_headers(&got[0].bytes);
    let head = format!("Subject: big {}\r\n\r\n", SESSIONS - 1);
    assert!(body.starts_with(head.as_bytes()));
    let sent = SIZE.div_ceil(block.len()) * block.len();
    assert_eq!(body.len(), head.len() + sent, "the whole message");
    // The others leave: their spool files go with them.
    drop(sessions);
    drop((r, w));
    wait_until(
        Duration::from_secs(20),
        || spooled(&dir) == 0,
        || format!("{} octets left in data_dir/tmp", spooled(&dir)),
    )
    .await;
    s.stop().await;
}
