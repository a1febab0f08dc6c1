//! The renderer's golden corpus: for every message of `message/tests/corpus` (which
//! holds every message of the old store-side formatter's tests, whose output this
//! renderer was proven byte-equal to over the corpus and 10,000 mutations before
//! that formatter was deleted), ENVELOPE, BODYSTRUCTURE and BODY as
//! `mailyard_imap::proto::body_render` renders them from the message's shape, without
//! and with UTF-8 (RFC 6855), are kept beside it as `NAME.imap`. On a mismatch the
//! rendering is written to `NAME.imap.actual` and the test fails: compare the two,
//! and when the new rendering is right, move `.imap.actual` over `.imap`.

mod common;
use common::corpus::corpus_messages;

use mailyard_imap::proto::body_render::{body_structure, envelope};
use mailyard_message::Shape;

/// The `.imap` text of `raw`: one line per item and mode (the items may hold
/// literals, whose CRLF and octets are kept as they are).
fn render(raw: &[u8]) -> Vec<u8> {
    let shape = Shape::parse(raw);
    let mut out = Vec::new();
    for utf8 in [false, true] {
        let mode = if utf8 { "UTF8 " } else { "" };
        out.extend_from_slice(format!("{mode}ENVELOPE ").as_bytes());
        envelope(&mut out, &shape.envelope, utf8);
        out.extend_from_slice(format!("\n{mode}BODYSTRUCTURE ").as_bytes());
        body_structure(&mut out, &shape, true, utf8);
        out.extend_from_slice(format!("\n{mode}BODY ").as_bytes());
        body_structure(&mut out, &shape, false, utf8);
        out.push(b'\n');
    }
    out
}

#[test]
fn corpus_renders_as_recorded() {
    let mut failed = Vec::new();
    for eml in corpus_messages() {
        let got = render(&std::fs::read(&eml).expect("read .eml"));
        let actual = eml.with_extension("imap.actual");
        if std::fs::read(eml.with_extension("imap")).is_ok_and(|want| want == got) {
            let _ = std::fs::remove_file(&actual);
        } else {
            std::fs::write(&actual, &got).expect("write .imap.actual");
            failed.push(eml.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "renderings differ (see .imap.actual beside): {failed:#?}"
    );
}
