//! BagIt 1.0 tag files (RFC 8493): written by Capstan with SHA-256, read from any bag.
//!
//! Writing: the payload digests are handed in (computed in the same read that proved each file),
//! so writing a bag costs no further pass over the payload. Tag files are written in a fixed
//! order with sorted manifests, and each is hashed from the bytes written, for the tag manifest.
//!
//! Reading: bags may come from elsewhere and may be hostile. Readers here only parse; a line that
//! does not parse is returned as [`Malformed`] (file and line number), never silently skipped,
//! and manifest paths are decoded but not trusted: [`safe_payload_path`] says whether a path stays
//! inside its bag. Folder walks never follow symbolic links.

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

/// Writes `bagit.txt`, `bag-info.txt` (the given fields, then Payload-Oxum), the payload manifest,
/// any `other` tag files (name, text: `premis.xml`) and the tag manifest listing them all. Values
/// must hold no line breaks (the metadata rules refuse them).
pub fn write_tag_files(
    bag: &Path,
    payload: &[PayloadFile],
    info: &[(&str, String)],
    other: &[(&str, &str)],
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
    for (name, text) in other {
        tags.push(write_hashed(bag, name, text)?);
    }
    let tag_manifest: String = tags
        .iter()
        .map(|(name, sha)| format!("{}  {name}\n", crate::flac::hex(sha)))
        .collect();
    write_hashed(bag, "tagmanifest-sha256.txt", &tag_manifest)?;
    Ok(())
}

/// RFC 8493 §2.1.3, the inverse of [`encode_manifest_path`].
pub fn decode_manifest_path(path: &str) -> String {
    path.replace("%0D", "\r")
        .replace("%0d", "\r")
        .replace("%0A", "\n")
        .replace("%0a", "\n")
        .replace("%25", "%")
}

/// A tag-file line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The tag file, relative to the bag (`manifest-sha256.txt`).
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub text: String,
    pub reason: &'static str,
}

/// One line of a manifest: a digest and the (decoded) path it is for, relative to the bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub path: String,
    /// Lower-case hex.
    pub digest: String,
    pub line: usize,
}

/// A manifest or tag manifest: `manifest-<algorithm>.txt` / `tagmanifest-<algorithm>.txt`.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub file: String,
    pub algorithm: String,
    pub entries: Vec<ManifestEntry>,
    pub malformed: Vec<Malformed>,
}

/// Hex digits a digest of this algorithm has, for the algorithms BagIt bags use.
pub fn digest_hex_len(algorithm: &str) -> Option<usize> {
    match algorithm {
        "md5" => Some(32),
        "sha1" => Some(40),
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    }
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, std::borrow::Cow<'_, str>)> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| {
            (
                i + 1,
                String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)),
            )
        })
        .filter(|(_, l)| !l.is_empty())
}

/// Parses manifest text: `digest<whitespace>path` per line (RFC 8493 §2.1.3).
pub fn parse_manifest(file: &str, algorithm: &str, bytes: &[u8]) -> Manifest {
    let mut entries = Vec::new();
    let mut malformed = Vec::new();
    let expected_len = digest_hex_len(algorithm);
    let utf8 = std::str::from_utf8(bytes).is_ok();
    for (line, text) in lines(bytes) {
        let bad = |reason| Malformed {
            file: file.to_string(),
            line,
            text: text.to_string(),
            reason,
        };
        let mut parts = text.splitn(2, [' ', '\t']);
        let digest = parts.next().unwrap_or("");
        let path = parts.next().map(|p| p.trim_start_matches([' ', '\t']));
        match path {
            _ if !utf8 && text.contains('\u{FFFD}') => malformed.push(bad("not UTF-8")),
            None | Some("") => malformed.push(bad("no path after the digest")),
            Some(_)
                if !digest.bytes().all(|b| b.is_ascii_hexdigit())
                    || expected_len.is_some_and(|n| digest.len() != n) =>
            {
                malformed.push(bad("not a digest of this algorithm"))
            }
            Some(path) => entries.push(ManifestEntry {
                path: decode_manifest_path(path),
                digest: digest.to_ascii_lowercase(),
                line,
            }),
        }
    }
    Manifest {
        file: file.to_string(),
        algorithm: algorithm.to_string(),
        entries,
        malformed,
    }
}

/// Parses `bag-info.txt` (RFC 8493 §2.2.2): `Label: value`, continuation lines indented.
pub fn parse_bag_info(bytes: &[u8]) -> (Vec<(String, String)>, Vec<Malformed>) {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut malformed = Vec::new();
    for (line, text) in lines(bytes) {
        if text.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(text.trim());
                continue;
            }
        }
        match text.split_once(':') {
            Some((label, value)) if !label.trim().is_empty() => {
                fields.push((label.trim().to_string(), value.trim().to_string()))
            }
            _ => malformed.push(Malformed {
                file: "bag-info.txt".into(),
                line,
                text: text.to_string(),
                reason: "not a `Label: value` line",
            }),
        }
    }
    (fields, malformed)
}

/// The first value of a bag-info field (labels compare case-insensitively, as bagit.py does).
pub fn info_field<'a>(fields: &'a [(String, String)], label: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(l, _)| l.eq_ignore_ascii_case(label))
        .map(|(_, v)| v.as_str())
}

/// Payload-Oxum's octet and stream counts, if present and well-formed.
pub fn payload_oxum(fields: &[(String, String)]) -> Option<(u64, u64)> {
    let (octets, streams) = info_field(fields, "Payload-Oxum")?.split_once('.')?;
    Some((octets.parse().ok()?, streams.parse().ok()?))
}

/// Whether a manifest path names a file inside the bag: relative, no `..`, `.` or empty
/// components, no backslashes or NULs (RFC 8493 §2.1.3 forbids paths that leave the bag).
pub fn safe_payload_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// A manifest's algorithm and whether it is a tag manifest, from its file name
/// (`manifest-<algorithm>.txt`, `tagmanifest-<algorithm>.txt`).
pub fn manifest_name(name: &str) -> Option<(&str, bool)> {
    let (is_tag, rest) = match name.strip_prefix("tagmanifest-") {
        Some(rest) => (true, rest),
        None => (false, name.strip_prefix("manifest-")?),
    };
    Some((rest.strip_suffix(".txt")?, is_tag))
}

/// The manifests of a bag (`manifest-*.txt`, `tagmanifest-*.txt`) as (file name, algorithm,
/// is tag manifest), sorted by file name; links are not followed.
pub fn manifest_files(bag: &Path) -> std::io::Result<Vec<(String, String, bool)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(bag)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !entry.file_type()?.is_file() {
            continue;
        }
        if let Some((algorithm, is_tag)) = manifest_name(&name) {
            found.push((name.clone(), algorithm.to_string(), is_tag));
        }
    }
    found.sort();
    Ok(found)
}

/// A file's size and when it last changed (the later of mtime and ctime, in nanoseconds since
/// the epoch: ctime catches renames and writes that reset the mtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub bytes: u64,
    pub changed_ns: i128,
}

impl FileStamp {
    pub fn of(m: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        FileStamp {
            bytes: m.len(),
            changed_ns: ns(m.mtime(), m.mtime_nsec()).max(ns(m.ctime(), m.ctime_nsec())),
        }
    }
}

/// A bag (or any folder) walked without following links.
#[derive(Debug, Default)]
pub struct BagWalk {
    /// Regular files, relative to the folder.
    pub files: std::collections::BTreeMap<std::path::PathBuf, FileStamp>,
    pub links: Vec<std::path::PathBuf>,
    /// Neither file, folder nor link (FIFOs, sockets, devices).
    pub others: Vec<std::path::PathBuf>,
    /// Folders (or entries) that could not be read, relative.
    pub errors: Vec<(std::path::PathBuf, std::io::Error)>,
}

/// Walks everything under `root` without following links.
pub fn walk_bag(root: &Path) -> BagWalk {
    let mut w = BagWalk::default();
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let entries = match std::fs::read_dir(root.join(&rel)) {
            Ok(entries) => entries,
            Err(e) => {
                w.errors.push((rel, e));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    w.errors.push((rel.clone(), e));
                    continue;
                }
            };
            let path = rel.join(entry.file_name());
            match entry.file_type() {
                Ok(t) if t.is_symlink() => w.links.push(path),
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => match entry.metadata() {
                    Ok(m) => {
                        w.files.insert(path, FileStamp::of(&m));
                    }
                    Err(e) => w.errors.push((path, e)),
                },
                Ok(_) => w.others.push(path),
                Err(e) => w.errors.push((path, e)),
            }
        }
    }
    w.links.sort();
    w.others.sort();
    w
}

/// What a walk of a folder of bags finds.
#[derive(Debug, Default)]
pub struct Survey {
    /// Folders holding a `bagit.txt`, sorted; not entered.
    pub bags: Vec<std::path::PathBuf>,
    /// Symbolic links met outside bags; not followed.
    pub links: Vec<std::path::PathBuf>,
    /// Regular files outside bags, with their sizes.
    pub files: Vec<(std::path::PathBuf, u64)>,
    /// Folders (or entries) that could not be read.
    pub errors: Vec<(std::path::PathBuf, std::io::Error)>,
}

/// Walks `root` for bags without descending into them, into `.capstan` or through symbolic
/// links. `root` itself may be a bag. Only an unreadable `root` is an error; anything deeper
/// that cannot be read is listed in [`Survey::errors`].
pub fn survey(root: &Path) -> std::io::Result<Survey> {
    let mut s = Survey::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if is_bag(&dir) {
            s.bags.push(dir);
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => return Err(e),
            Err(e) => {
                s.errors.push((dir, e));
                continue;
            }
        };
        for entry in entries {
            let found = entry.and_then(|entry| Ok((entry.file_type()?, entry)));
            let (t, entry) = match found {
                Ok(found) => found,
                Err(e) => {
                    s.errors.push((dir.clone(), e));
                    continue;
                }
            };
            if t.is_symlink() {
                s.links.push(entry.path());
            } else if t.is_dir() && entry.file_name() != ".capstan" {
                stack.push(entry.path());
            } else if t.is_file() {
                match entry.metadata() {
                    Ok(m) => s.files.push((entry.path(), m.len())),
                    Err(e) => s.errors.push((entry.path(), e)),
                }
            }
        }
    }
    s.bags.sort();
    s.links.sort();
    s.files.sort();
    Ok(s)
}

/// Whether `dir` is a bag: it holds a `bagit.txt`, or a payload manifest (a bag that lost its
/// `bagit.txt` is still a bag, to be verified and reported, never taken for a deleted one).
pub fn is_bag(dir: &Path) -> bool {
    if dir.join("bagit.txt").symlink_metadata().is_ok() {
        return true;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_type().is_ok_and(|t| t.is_file())
            && e.file_name()
                .to_str()
                .and_then(manifest_name)
                .is_some_and(|(_, is_tag)| !is_tag)
    })
}

/// Every bag under `root` (see [`survey`]).
pub fn find_bags(root: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    Ok(survey(root)?.bags)
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
        write_tag_files(
            tmp.path(),
            &payload,
            &[("External-Identifier", "x".into())],
            &[],
        )
        .unwrap();
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
        assert_eq!(decode_manifest_path("data/a%25b%0Ac%0D"), "data/a%b\nc\r");
        assert_eq!(decode_manifest_path("data/%2525"), "data/%25");
    }

    #[test]
    fn manifests_parse_with_every_bad_line_located() {
        let sha = "ab".repeat(32);
        let text = format!(
            "{sha}  data/a b.flac\r\n{}\tdata/x%0Ay\nnot-hex  data/c\n{sha}\n{}  data/short\n",
            sha.to_uppercase(),
            &sha[..10]
        );
        let m = parse_manifest("manifest-sha256.txt", "sha256", text.as_bytes());
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[0].path, "data/a b.flac");
        assert_eq!(m.entries[1].path, "data/x\ny");
        assert_eq!(m.entries[1].digest, sha);
        let lines: Vec<usize> = m.malformed.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5]);
    }

    #[test]
    fn bag_info_joins_continuations_and_reads_oxum() {
        let (fields, bad) = parse_bag_info(
            b"External-Description: a long\n  description\nPayload-Oxum: 123.4\nno colon\n",
        );
        assert_eq!(
            info_field(&fields, "external-description"),
            Some("a long description")
        );
        assert_eq!(payload_oxum(&fields), Some((123, 4)));
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 4);
    }

    #[test]
    fn paths_that_leave_the_bag_are_unsafe() {
        for p in ["data/a.flac", "data/sub/b c.json"] {
            assert!(safe_payload_path(p), "{p}");
        }
        for p in [
            "../x",
            "data/../../x",
            "/etc/passwd",
            "data//x",
            "data/./x",
            "a\\b",
            "",
        ] {
            assert!(!safe_payload_path(p), "{p}");
        }
    }

    #[test]
    fn bags_are_found_without_entering_them_or_following_links() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for bag in ["c1/a", "c1/b", "c2/x"] {
            std::fs::create_dir_all(root.join(bag).join("data/inner")).unwrap();
            std::fs::write(root.join(bag).join("bagit.txt"), BAGIT_TXT).unwrap();
            std::fs::write(root.join(bag).join("data/inner/bagit.txt"), "").unwrap();
        }
        std::fs::create_dir_all(root.join(".capstan/staging/s")).unwrap();
        std::fs::write(root.join(".capstan/staging/s/bagit.txt"), "").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("bagit.txt"), "").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("c2/link")).unwrap();
        let bags = find_bags(root).unwrap();
        let rel: Vec<_> = bags.iter().map(|b| b.strip_prefix(root).unwrap()).collect();
        assert_eq!(
            rel,
            [Path::new("c1/a"), Path::new("c1/b"), Path::new("c2/x")]
        );
    }
}
