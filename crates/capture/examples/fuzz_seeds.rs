//! Writes the seed corpus of the fuzz targets: every seed that
//! `tlsscope_capture::fuzz::seeds` makes from the captures under
//! TESTDATA_DIR (each with the key log of the same name beside it, e.g.
//! tls/lab.pcap and tls/lab.keys), as CORPUS_DIR/TARGET/seed-HASH (named
//! by content, so a second run adds nothing). scripts/fuzz runs it before fuzzing; see
//! docs/fuzzing.md.
//!
//!   cargo run --release -p tlsscope-capture --example fuzz_seeds -- \
//!       testdata/captures fuzz/corpus [TARGET...]

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tlsscope_capture::fuzz::{SeedCapture, TARGETS, read_captures, seeds};

fn run(testdata: &Path, corpus: &Path, targets: &[String]) -> Result<(), String> {
    let caps: Vec<SeedCapture> = read_captures(testdata)
        .map_err(|e| format!("{}: {e}", testdata.display()))?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    if caps.is_empty() {
        return Err(format!("no .pcap or .pcapng files under {}", testdata.display()));
    }
    for target in targets {
        let Some(seeds) = seeds(target, &caps) else {
            return Err(format!(
                "no seeds for target {target:?}: add it to tlsscope_capture::fuzz::seeds \
                 (targets: {})",
                TARGETS.join(", ")
            ));
        };
        let dir: PathBuf = corpus.join(target);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut added = 0;
        for seed in &seeds {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            seed.hash(&mut h);
            let path = dir.join(format!("seed-{:016x}", h.finish()));
            if !path.exists() {
                std::fs::write(&path, seed).map_err(|e| format!("{}: {e}", path.display()))?;
                added += 1;
            }
        }
        println!("fuzz_seeds: {target}: {} seeds ({added} new) in {}", seeds.len(), dir.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [testdata, corpus, targets @ ..] = args.as_slice() else {
        eprintln!("usage: fuzz_seeds TESTDATA_DIR CORPUS_DIR [TARGET...]");
        return ExitCode::from(2);
    };
    let targets: Vec<String> = if targets.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        targets.to_vec()
    };
    match run(Path::new(testdata), Path::new(corpus), &targets) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fuzz_seeds: {e}");
            ExitCode::from(2)
        }
    }
}
