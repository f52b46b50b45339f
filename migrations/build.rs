//! Fingerprints the migration sources (see `FINGERPRINT` in lib.rs).

use std::hash::{DefaultHasher, Hash, Hasher};

fn main() {
    println!("cargo:rerun-if-changed=src");
    let mut files: Vec<_> = std::fs::read_dir("src").expect("src").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut hasher = DefaultHasher::new();
    for file in files {
        file.file_name().hash(&mut hasher);
        std::fs::read(&file).expect("readable migration").hash(&mut hasher);
    }
    println!("cargo:rustc-env=MEND_MIGRATIONS_FINGERPRINT={:016x}", hasher.finish());
}
