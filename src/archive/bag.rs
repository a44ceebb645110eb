//! BagIt 1.0 tag files (RFC 8493), SHA-256 only.
//!
//! The payload digests are handed in (computed in the same read that proved each file), so
//! writing a bag costs no further pass over the payload. Tag files are written in a fixed order
//! with sorted manifests, and each is hashed from the bytes written, for the tag manifest.

use super::ArchiveError;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// A payload file, its path relative to the bag (`data/...`), digest and size.
#[derive(Debug, Clone)]
pub struct PayloadFile {
    pub path: String,
    pub sha256: [u8; 32],
    pub bytes: u64,
}

/// RFC 8493 §2.1.3: CR, LF and '%' in a manifest path are percent-encoded.
pub fn encode_manifest_path(path: &str) -> String {
    path.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// `bagit.txt` (RFC 8493 §2.1.1).
pub const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

fn write_hashed(bag: &Path, name: &str, text: &str) -> Result<(String, [u8; 32]), ArchiveError> {
    let path = bag.join(name);
    let io = |source| ArchiveError::Io {
        path: path.clone(),
        source,
    };
    let mut f = File::create_new(&path).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok((name.to_string(), Sha256::digest(text.as_bytes()).into()))
}

/// Writes `bagit.txt`, `bag-info.txt` (the given fields, then Payload-Oxum), the payload manifest
/// and the tag manifest. Values must hold no line breaks (the metadata rules refuse them).
pub fn write_tag_files(
    bag: &Path,
    payload: &[PayloadFile],
    info: &[(&str, String)],
) -> Result<(), ArchiveError> {
    let mut tags = Vec::new();
    tags.push(write_hashed(bag, "bagit.txt", BAGIT_TXT)?);
    let mut bag_info = String::new();
    for (k, v) in info {
        debug_assert!(!v.contains(['\r', '\n']), "{k}: line break in bag-info");
        bag_info.push_str(&format!("{k}: {v}\n"));
    }
    // RFC 8493 §2.2.2: Payload-Oxum = octet count "." stream count.
    let octets: u64 = payload.iter().map(|p| p.bytes).sum();
    bag_info.push_str(&format!("Payload-Oxum: {octets}.{}\n", payload.len()));
    tags.push(write_hashed(bag, "bag-info.txt", &bag_info)?);
    let mut sorted: Vec<&PayloadFile> = payload.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest: String = sorted
        .iter()
        .map(|p| {
            format!(
                "{}  {}\n",
                crate::flac::hex(&p.sha256),
                encode_manifest_path(&p.path)
            )
        })
        .collect();
    tags.push(write_hashed(bag, "manifest-sha256.txt", &manifest)?);
    let tag_manifest: String = tags
        .iter()
        .map(|(name, sha)| format!("{}  {name}\n", crate::flac::hex(sha)))
        .collect();
    write_hashed(bag, "tagmanifest-sha256.txt", &tag_manifest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_files_hold_oxum_sorted_manifest_and_tag_digests() {
        let tmp = tempfile::tempdir().unwrap();
        let payload = vec![
            PayloadFile {
                path: "data/b.flac".into(),
                sha256: Sha256::digest(b"bb").into(),
                bytes: 2,
            },
            PayloadFile {
                path: "data/a.json".into(),
                sha256: Sha256::digest(b"a").into(),
                bytes: 1,
            },
        ];
        write_tag_files(tmp.path(), &payload, &[("External-Identifier", "x".into())]).unwrap();
        let info = std::fs::read_to_string(tmp.path().join("bag-info.txt")).unwrap();
        assert!(info.ends_with("Payload-Oxum: 3.2\n"), "{info}");
        let manifest = std::fs::read_to_string(tmp.path().join("manifest-sha256.txt")).unwrap();
        let lines: Vec<&str> = manifest.lines().collect();
        assert!(lines[0].ends_with("  data/a.json") && lines[1].ends_with("  data/b.flac"));
        let tm = std::fs::read_to_string(tmp.path().join("tagmanifest-sha256.txt")).unwrap();
        let digest = crate::flac::hex(&Sha256::digest(manifest.as_bytes()));
        assert!(
            tm.contains(&format!("{digest}  manifest-sha256.txt")),
            "{tm}"
        );
        assert_eq!(tm.lines().count(), 3);
    }

    #[test]
    fn manifest_paths_escape_line_breaks_and_percent() {
        assert_eq!(encode_manifest_path("data/a%b\nc\r"), "data/a%25b%0Ac%0D");
    }
}
