//! Delivery API throughput: messages/s with 1, 8 and 64 concurrent deliverers of 4 KiB
//! messages, beside the disk's raw fsync rate (write 4 KiB + fdatasync, one file after
//! another), printed as a table; then the same with every user's NOTIFY bus subscribed
//! (`+notify`: the cost of the per-user events). A benchmark, not a test: the machine is shared, so
//! read the ratios, not the absolute numbers.
//!
//! Run: `cargo bench -p mailyard-store --bench deliver` (MAILYARD_BENCH_DIR chooses the
//! disk; default: the target directory, which is on the same disk as the data usually is).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mailyard_store::{Address, Store};

const MESSAGE_SIZE: usize = 4096;
const RUN_FOR: Duration = Duration::from_secs(3);

fn bench_dir() -> PathBuf {
    let base = std::env::var_os("MAILYARD_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let _ = std::fs::create_dir_all(&base);
    base
}

fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: bench@example.net\r\nTo: user@example.com\r\nSubject: bench {i}\r\n\
         Message-ID: <{i}@bench>\r\n\r\n"
    )
    .into_bytes();
    while m.len() < MESSAGE_SIZE - 2 {
        m.extend_from_slice(b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq\r\n");
    }
    m.truncate(MESSAGE_SIZE - 2);
    m.extend_from_slice(b"\r\n");
    m
}

/// Serial write + fdatasync of new 4 KiB files: what one fsync round costs here.
fn raw_fsync_rate(dir: &std::path::Path) -> f64 {
    let body = vec![b'x'; MESSAGE_SIZE];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN_FOR {
        let path = dir.join(format!("raw{n}"));
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(&body).expect("write");
        f.sync_data().expect("fsync");
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: run
    // a short smoke version there so the bench code never rots.
    let quick = !std::env::args().any(|a| a == "--bench");
    let tmp = tempfile::tempdir_in(bench_dir()).expect("tempdir");
    let raw_dir = tmp.path().join("raw");
    std::fs::create_dir_all(&raw_dir).expect("mkdir");
    let raw = if quick { 0.0 } else { raw_fsync_rate(&raw_dir) };

    let (store, _) = Store::open(&tmp.path().join("data")).expect("open");
    let users: Vec<Address> = (0..64)
        .map(|i| Address::parse(&format!("user{i}@example.com")).expect("address"))
        .collect();
    for u in &users {
        store.accounts().add_user(u, "pw").expect("add");
        store.setup_user_blocking(u).expect("setup");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(128)
        .enable_all()
        .build()
        .expect("runtime");

    println!();
    println!(
        "delivery API, {MESSAGE_SIZE}-byte messages, one recipient each, durable before return"
    );
    println!(
        "{:>12} | {:>10} | {:>12} | {:>16}",
        "deliverers", "messages", "messages/s", "x raw fsync rate"
    );
    println!("{:->12}-+-{:->10}-+-{:->12}-+-{:->16}", "", "", "", "");
    if !quick {
        println!(
            "{:>12} | {:>10} | {:>12.0} | {:>16}",
            "raw fsync", "-", raw, "1.00"
        );
    }
    // The same with every user's NOTIFY bus subscribed and drained (RFC 5465 sessions
    // listening): what the user events cost the delivery path.
    let mut rows: Vec<(usize, bool)> = [1usize, 8, 64].iter().map(|&c| (c, false)).collect();
    rows.extend([1usize, 8, 64].iter().map(|&c| (c, true)));
    for (concurrency, notify) in rows {
        let listeners: Vec<_> = if notify {
            users
                .iter()
                .map(|u| {
                    let mut rx = store.subscribe_user(u);
                    rt.spawn(async move {
                        use tokio::sync::broadcast::error::RecvError;
                        while !matches!(rx.recv().await, Err(RecvError::Closed)) {}
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let run_for = if quick {
            Duration::from_millis(200)
        } else {
            RUN_FOR
        };
        let (count, secs) = rt.block_on(async {
            let start = Instant::now();
            let mut tasks = Vec::new();
            for t in 0..concurrency {
                let store = store.clone();
                let rcpt = [users[t % users.len()].clone()];
                tasks.push(tokio::spawn(async move {
                    let mut n = 0usize;
                    while start.elapsed() < run_for {
                        store.deliver(message(n), &rcpt).await.expect("deliver");
                        n += 1;
                    }
                    n
                }));
            }
            let mut total = 0;
            for t in tasks {
                total += t.await.expect("task");
            }
            (total, start.elapsed().as_secs_f64())
        });
        let rate = count as f64 / secs;
        let ratio = if raw > 0.0 {
            format!("{:.2}", rate / raw)
        } else {
            "-".into()
        };
        let label = if notify {
            format!("{concurrency} +notify")
        } else {
            concurrency.to_string()
        };
        println!("{label:>12} | {count:>10} | {rate:>12.0} | {ratio:>16}");
        for l in listeners {
            l.abort();
        }
    }
    assert!(
        store.check().expect("check").is_empty(),
        "index agrees with the maildir"
    );
}
