//! Replays every committed fuzz seed (`fuzz/corpus/<target>/*`) through the
//! fuzz targets' own bodies, on stable and without libFuzzer: a seed that once
//! crashed a target stays fixed wherever the tests run. The bodies live in
//! `fuzz/src/lib.rs` and are compiled here as they are.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod fuzz;

use std::path::Path;

#[test]
fn every_seed_passes_its_target() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, target) in fuzz::TARGETS {
        let dir = corpus.join(name);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 10, "{name}: only {} seeds", seeds.len());
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: seed {} fails", seed.display());
        }
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    for (name, _) in fuzz::TARGETS {
        assert!(
            dir.join(format!("{name}.rs")).is_file(),
            "fuzz/fuzz_targets/{name}.rs"
        );
    }
}
