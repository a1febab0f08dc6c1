//! ENVELOPE, BODY and BODYSTRUCTURE are rendered once per cached message and mode and
//! kept with its shape in the store's blob cache (`StoredShape::derived`): whichever
//! session asks first, each session gets what the renderer makes for its own mode
//! (UTF8=ACCEPT, RFC 6855, sends UTF-8 strings quoted; without it they go as
//! literals), and the same again on every later FETCH.

mod common;
use common::*;

use mailyard_imap::proto::body_render::{body_structure, envelope};
use mailyard_message::Shape;

/// A message with 8-bit UTF-8 in its Subject and From name.
const RAW: &[u8] = "From: Zoë <zoe@example.net>\r\nTo: bob@example.com\r\n\
Subject: Grüße aus Köln\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <r@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n"
    .as_bytes();

/// `* 1 FETCH (ENVELOPE … BODYSTRUCTURE … BODY …)` as the renderer makes it.
fn expected(utf8: bool) -> Vec<u8> {
    let shape = Shape::parse(RAW);
    let mut out = b"* 1 FETCH (ENVELOPE ".to_vec();
    envelope(&mut out, &shape.envelope, utf8);
    out.extend_from_slice(b" BODYSTRUCTURE ");
    body_structure(&mut out, &shape, true, utf8);
    out.extend_from_slice(b" BODY ");
    body_structure(&mut out, &shape, false, utf8);
    out.extend_from_slice(b")\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_renderings_are_per_mode_and_equal_to_the_renderer() {
    let s = start().await;
    s.store
        .deliver(RAW.to_vec(), &[s.user()])
        .await
        .expect("deliver");
    let mut plain = s.raw_login().await;
    let mut utf8 = s.raw_login().await;
    let r = utf8.cmd("e", "ENABLE UTF8=ACCEPT").await;
    assert!(tagged(&r).starts_with("e OK"), "{r:?}");
    for c in [&mut plain, &mut utf8] {
        let r = c.cmd("s", "SELECT INBOX").await;
        assert!(tagged(&r).starts_with("s OK"), "{r:?}");
    }
    let (want_plain, want_utf8) = (expected(false), expected(true));
    assert_ne!(want_plain, want_utf8, "the modes must differ for this test");
    // Alternate who asks first; every answer, cached or not, is the renderer's.
    for round in 0..3 {
        let order: [(&mut Raw, &[u8]); 2] = if round % 2 == 0 {
            [(&mut plain, &want_plain), (&mut utf8, &want_utf8)]
        } else {
            [(&mut utf8, &want_utf8), (&mut plain, &want_plain)]
        };
        for (c, want) in order {
            let r = c.cmd("f", "FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)").await;
            assert!(tagged(&r).starts_with("f OK"), "{r:?}");
            let got: Vec<u8> = r
                .iter()
                .filter(|l| !l.starts_with("f "))
                .flat_map(|l| l.bytes())
                .collect();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "round {round}"
            );
        }
    }
}
