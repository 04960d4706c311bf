//! Integration tests of medvault-core: its envelopes against eciesjs, the
//! primitives under them against Wycheproof's vectors, and the vectors the
//! browser's TypeScript is checked against.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eciesjs;
mod independent;
mod web;
mod wycheproof;

/// The workspace root, where `.tools/`, `docs/` and the Node scripts are.
fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}
