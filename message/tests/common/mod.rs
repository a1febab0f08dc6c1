//! The golden corpus's messages (`message/tests/corpus/*.eml`), for this crate's
//! tests and for those of the crates that render and serve them (which include this
//! file by path).

use std::path::{Path, PathBuf};

/// Every `.eml` of the corpus, by path, in name order.
pub fn corpus_messages() -> Vec<PathBuf> {
    // `../message` from this crate or from a sibling crate alike.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../message/tests/corpus");
    let mut emls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    emls.sort();
    assert!(emls.len() >= 40, "{} messages in the corpus", emls.len());
    emls
}
