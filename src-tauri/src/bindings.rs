//! The page's types, generated from the Rust types the commands send (`ts-rs`) into
//! `ui/src/bindings/`: `ui/src/api.ts` keeps only the `invoke` wrappers, and a renamed or
//! retyped field fails the page's compile instead of showing `undefined`.
//!
//! The test below fails while the checked-in files differ from what the types give
//! (`scripts/test.sh` runs it); `CAPSTAN_WRITE_BINDINGS=1 cargo test -p capstan-station
//! bindings` writes them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use ts_rs::{Config, TS};

/// Every type the page receives, with what it refers to.
fn export_all(cfg: &Config) -> Result<(), ts_rs::ExportError> {
    crate::StationInfo::export_all(cfg)?;
    crate::Interrupted::export_all(cfg)?;
    crate::RecoveredTake::export_all(cfg)?;
    crate::Approved::export_all(cfg)?;
    crate::failure::Failure::export_all(cfg)?;
    crate::live::CaptureMsg::export_all(cfg)?;
    crate::live::VerifyMsg::export_all(cfg)?;
    crate::live::WatchMsg::export_all(cfg)?;
    crate::listen::PlayMsg::export_all(cfg)?;
    crate::listen::Playing::export_all(cfg)?;
    capstan::replica::heal::AuditReport::export_all(cfg)?;
    capstan::registry::Overview::export_all(cfg)?;
    capstan::catalogue::ArchiveReport::export_all(cfg)?;
    capstan::item::ItemView::export_all(cfg)?;
    capstan::fixity::VerifyReport::export_all(cfg)?;
    capstan::review::Waveform::export_all(cfg)?;
    Ok(())
}

/// The files under `dir`, by their path relative to it.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn the_pages_types_are_generated_from_the_current_rust_types() {
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
    let fresh = std::env::temp_dir().join(format!("capstan-bindings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    // u64 as `number`: frame counts and byte sizes stay far below 2^53.
    let cfg = Config::new().with_large_int("number").with_out_dir(&fresh);
    export_all(&cfg).unwrap();
    let want = files(&fresh);
    std::fs::remove_dir_all(&fresh).unwrap();
    assert!(want.len() > 20, "{:?}", want.keys());
    if std::env::var_os("CAPSTAN_WRITE_BINDINGS").is_some() {
        let _ = std::fs::remove_dir_all(&checked_in);
        for (rel, bytes) in &want {
            let p = checked_in.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        return;
    }
    let have = files(&checked_in);
    let stale: Vec<_> = want
        .keys()
        .chain(have.keys())
        .filter(|k| want.get(*k) != have.get(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/bindings is stale ({stale:?}): run `CAPSTAN_WRITE_BINDINGS=1 cargo test -p capstan-station bindings`"
    );
}
