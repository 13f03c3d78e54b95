//! Replays the pickle fuzz target's seed corpus (`fuzz/corpus/pickle/`) through the same check
//! the fuzz target runs (`roundtrip_check`), so `cargo test` keeps every seed and every past
//! crash passing.

use tarp_core::wire::pickle::{decode, roundtrip_check};

#[test]
fn every_seed_passes_the_fuzz_check() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/pickle");
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let (mut decoded, mut refused) = (0, 0);
    for path in &entries {
        let data = std::fs::read(path).unwrap();
        if let Err(e) = roundtrip_check(&data) {
            panic!("{}: {e}", path.display());
        }
        match decode(&data) {
            Ok(_) => decoded += 1,
            Err(_) => refused += 1,
        }
        // Seeds named hostile_* are meant to be refused, or decoded only by sharing.
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("reject_") {
            assert!(decode(&data).is_err(), "{name} must be refused");
        }
    }
    assert!(entries.len() >= 350, "{} seeds", entries.len());
    assert!(
        decoded >= 330 && refused >= 20,
        "{decoded} decoded, {refused} refused"
    );
}
