//! The golden corpus: every `tests/corpus/NAME.eml` has its expected shape beside it
//! in `NAME.shape` (the [`dump`] text form). On a mismatch the shape computed is
//! written to `NAME.actual` (as mail-parser's tests do) and the test fails; compare
//! the two, and when the new shape is right, move `.actual` over `.shape`.
//! `MAILYARD_BLESS=1` writes every `.shape` anew.
//!
//! Each shape also survives the binary codec unchanged.

mod common;

use mailyard_message::Shape;
use mailyard_message::codec::{decode, encode};
use mailyard_message::dump::dump;

#[test]
fn golden_shapes() {
    let bless = std::env::var_os("MAILYARD_BLESS").is_some();
    let files = common::corpus_messages();
    let mut failed = Vec::new();
    for eml in files {
        let raw = std::fs::read(&eml).expect("read .eml");
        let shape = Shape::parse(&raw);
        assert_eq!(
            decode(&encode(&shape)).as_ref(),
            Ok(&shape),
            "{eml:?}: codec round trip"
        );
        let got = dump(&shape);
        let expected = eml.with_extension("shape");
        let actual = eml.with_extension("actual");
        if bless {
            std::fs::write(&expected, &got).expect("write .shape");
            continue;
        }
        match std::fs::read_to_string(&expected) {
            Ok(want) if want == got => {
                let _ = std::fs::remove_file(&actual);
            }
            _ => {
                std::fs::write(&actual, &got).expect("write .actual");
                failed.push(eml);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "shapes differ (see .actual beside): {failed:#?}"
    );
}
