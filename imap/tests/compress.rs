//! COMPRESS=DEFLATE (RFC 4978) end to end with a real deflate peer: Python's zlib
//! (raw deflate, `wbits=-15`) over a plain socket and over TLS. The IDLE test proves
//! the server's sync flush: the EXISTS of a delivery must decode within a second,
//! with the connection otherwise quiet.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A raw-socket client that deflates what it sends and inflates what it reads once
/// `start()` is called; `line()` returns one response with its literals.
const ZCLIENT: &str = r#"
import zlib
class Z:
    def __init__(self, sock):
        self.s = sock; self.buf = b""; self.comp = None; self.decomp = None
        self.raw_in = 0; self.plain_in = 0
    def start(self):
        self.comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.decomp = zlib.decompressobj(-15)
        rest, self.buf = self.buf, b""
        self.buf = self.decomp.decompress(rest)
    def send(self, data):
        if self.comp:
            data = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)
    def fill(self, deadline):
        left = deadline - time.monotonic()
        assert left > 0, "timed out; have %r" % self.buf[-200:]
        self.s.settimeout(left)
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed; have %r" % self.buf[-200:])
        self.raw_in += len(d)
        if self.decomp:
            d = self.decomp.decompress(d)
        self.plain_in += len(d)
        self.buf += d
    def line(self, timeout=20):
        deadline = time.monotonic() + timeout
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                self.fill(deadline)
            l, self.buf = self.buf.split(b"\r\n", 1)
            out += l + b"\r\n"
            m = re.search(rb"\{(\d+)\}$", l)
            if not m:
                return out
            n = int(m.group(1))
            while len(self.buf) < n:
                self.fill(deadline)
            out += self.buf[:n]; self.buf = self.buf[n:]
    def cmd(self, tag, text, timeout=20):
        self.send(tag + b" " + text + b"\r\n")
        resp = []
        while True:
            l = self.line(timeout)
            resp.append(l)
            if l.startswith(tag + b" "):
                return resp
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compress_append_fetch_idle() {
    let s = start().await;
    let script = format!(
        "{ZCLIENT}{}",
        r#"
z = Z(socket.create_connection(("127.0.0.1", PORT)))
assert z.line().startswith(b"* OK"), "greeting"
r = z.cmd(b"a", b"CAPABILITY")
assert b"COMPRESS=DEFLATE" in r[0], r
r = z.cmd(b"b", ("LOGIN %s %s" % (USER, PASS)).encode())
assert r[-1].startswith(b"b OK"), r
r = z.cmd(b"c", b"COMPRESS DEFLATE")
assert r[-1].startswith(b"c OK"), r
z.start()
r = z.cmd(b"d", b"COMPRESS DEFLATE")
assert r[-1].startswith(b"d NO [COMPRESSIONACTIVE]"), r

# A large message in (a compressed literal) and out (a compressed FETCH): 1 MiB of
# text lines and 256 KiB of incompressible base64.
import random
rnd = random.Random(7)
text = b"".join(b"line %d of the big message, quite compressible\r\n" % i for i in range(20000))
noise = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(192 * 1024))).replace(b"\n", b"\r\n")
big = b"Subject: big\r\nFrom: a@example.com\r\n\r\n" + text + noise
z.send(b"e APPEND INBOX {%d}\r\n" % len(big))
assert z.line().startswith(b"+ "), "continuation"
z.send(big + b"\r\n")
r = z.line()
assert r.startswith(b"e OK"), r
r = z.cmd(b"f", b"SELECT INBOX")
assert r[-1].startswith(b"f OK"), r
before_raw, before_plain = z.raw_in, z.plain_in
r = z.cmd(b"g", b"FETCH 1 (RFC822.SIZE BODY.PEEK[])")
assert r[-1].startswith(b"g OK"), r
assert big in r[0], "fetched body differs"
raw, plain = z.raw_in - before_raw, z.plain_in - before_plain
assert raw < plain * 0.6, (raw, plain)
print("fetch raw %d plain %d" % (raw, plain), flush=True)

# IDLE: the delivery's EXISTS must arrive (and decode) on its own.
z.send(b"h IDLE\r\n")
assert z.line().startswith(b"+ "), "idling"
print("IDLING", flush=True)
r = z.line(timeout=5)
assert r == b"* 2 EXISTS\r\n", r
print("EXISTS", flush=True)
z.send(b"DONE\r\n")
while True:
    r = z.line()
    if not r.startswith(b"* "):
        break
    assert r.endswith(b" RECENT\r\n"), r
assert r.startswith(b"h OK"), r
r = z.cmd(b"i", b"FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert b"Subject: wake" in r[0], r
r = z.cmd(b"j", b"LOGOUT")
assert r[0].startswith(b"* BYE"), r
assert r[-1].startswith(b"j OK"), r
print("done", flush=True)
"#
    );
    let mut child = s.python_cmd(&script).spawn().expect("spawn python");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Duration::from_secs(60);
    let mut next = async || {
        tokio::time::timeout(deadline, lines.next_line())
            .await
            .expect("python output within deadline")
            .expect("read")
            .unwrap_or_default()
    };
    let mut line = next().await;
    if line.starts_with("fetch") {
        line = next().await;
    }
    if line != "IDLING" {
        let out = child.wait_with_output().await.expect("wait");
        panic!(
            "expected IDLING, got {line:?}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    s.store
        .deliver(message("wake", "up"), &[s.user()])
        .await
        .expect("deliver");
    let delivered = Instant::now();
    let line = next().await;
    let elapsed = delivered.elapsed();
    if line != "EXISTS" {
        let out = child.wait_with_output().await.expect("wait");
        panic!(
            "expected EXISTS, got {line:?}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(elapsed < Duration::from_secs(1), "EXISTS after {elapsed:?}");
    assert_eq!(next().await, "done");
    let out = tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .expect("exit")
        .expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compress_after_tls_in_selected_state() {
    let s = start().await;
    for i in 0..3 {
        s.store
            .deliver(message(&format!("m{i}"), "hello"), &[s.user()])
            .await
            .expect("deliver");
    }
    let out = s
        .python(&format!(
            "{ZCLIENT}{}",
            r#"
z = Z(ctx().wrap_socket(socket.create_connection(("127.0.0.1", TLSPORT))))
assert z.line().startswith(b"* OK"), "greeting"
r = z.cmd(b"a", ("LOGIN %s %s" % (USER, PASS)).encode())
assert r[-1].startswith(b"a OK"), r
r = z.cmd(b"b", b"SELECT INBOX")
assert r[-1].startswith(b"b OK"), r
r = z.cmd(b"c", b"COMPRESS DEFLATE")
assert r[-1].startswith(b"c OK"), r
z.start()
r = z.cmd(b"d", b"FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert r[-1].startswith(b"d OK"), r
assert len(r) == 4 and b"Subject: m2" in r[2], r
r = z.cmd(b"e", b"NOOP")
assert r[-1].startswith(b"e OK"), r
r = z.cmd(b"f", b"LOGOUT")
assert r[-1].startswith(b"f OK"), r
print("tls done")
"#
        ))
        .await;
    assert!(out.contains("tls done"), "{out}");
}

#[tokio::test]
async fn compress_errors() {
    let s = start().await;
    let mut c = s.raw().await;
    c.response().await;
    // Not before login (RFC 4978 §3: authenticated and selected states).
    let r = c.cmd("a", "COMPRESS DEFLATE").await;
    assert!(tagged(&r).starts_with("a BAD"), "{r:?}");
    assert!(tagged(&c.cmd("b", &format!("LOGIN {USER} {PASS}")).await).starts_with("b OK"));
    let r = c.cmd("c", "COMPRESS ZSTD").await;
    assert!(tagged(&r).starts_with("c BAD"), "{r:?}");
    let r = c.cmd("d", "COMPRESS").await;
    assert!(tagged(&r).starts_with("d BAD"), "{r:?}");
    // Still uncompressed.
    let r = c.cmd("e", "NOOP").await;
    assert!(tagged(&r).starts_with("e OK"), "{r:?}");
}
