//! Replicas: copies of the archive on S3-compatible object storage, written and proved
//! against the archive's own manifests without moving their audio back.
//!
//! A replica is a tree of the archive's bags under its prefix,
//! `<prefix>/<collection>/<id>/<path in the bag>`, so any BagIt tool reads it. It is named in
//! the archive's settings ([`crate::archive::settings`]); credentials come from the
//! environment ([`s3::Credentials::from_environment`]).
//!
//! # Promises
//!
//! - **Only proved bytes are stored.** Every object is PUT with the SHA-256 its bag's manifest
//!   gives (the tag manifest, for tag files), and the server refuses a body that does not
//!   match. A bag's tag files go after its payload, its tag manifest last, so a bag cut short
//!   is never a complete one.
//! - **Nothing is overwritten.** An object already there with the same checksum is skipped;
//!   one with another checksum (or none to compare) is reported and left as it is.
//! - **Audits download no audio.** [`audit`] lists the replica and HEADs each object for its
//!   stored checksum and size.
//! - **No answer is not "missing".** A store that cannot be asked makes the run
//!   [`Finding::Unreachable`] and stops; nothing is then said to be missing or different.
//! - Each replicated file is a PREMIS `replication` event, each audited bag a `fixity check`,
//!   both marked as concerning the replica (they never change what the catalogue knows of the
//!   archive's own files).

pub mod deep;
pub mod heal;
pub mod queue;
pub mod s3;

use crate::archive::bag::{self, safe_payload_path};
use crate::archive::events::{Event, EventType, Outcome};
use crate::archive::Archive;
use s3::{Location, S3Error, Store, Upload};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A replica as the archive's settings name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSettings {
    pub name: String,
    /// `s3://bucket/prefix`
    pub url: String,
    /// `https://host[:port]`
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub path_style: bool,
    /// Every item ingested or captured is queued for this replica ([`queue`]) and sent as
    /// soon as it can be.
    #[serde(default)]
    pub auto: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

impl ReplicaSettings {
    /// Checks the name, URL and endpoint.
    pub fn check(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(format!(
                "a replica's name is letters, digits, '-', '_' and '.', not {:?}",
                self.name
            ));
        }
        self.location().map(|_| ())
    }

    /// Where it is.
    pub fn location(&self) -> Result<Location, String> {
        let (bucket, prefix) = parse_url(&self.url)?;
        let endpoint = self.endpoint.trim_end_matches('/').to_string();
        let host = endpoint
            .strip_prefix("https://")
            .or_else(|| endpoint.strip_prefix("http://"));
        if host.is_none_or(|h| h.is_empty() || h.contains('/')) {
            return Err(format!(
                "endpoint {:?} is not http(s)://host[:port]",
                self.endpoint
            ));
        }
        if self.region.is_empty() || self.region.contains(char::is_whitespace) {
            return Err(format!("region {:?} is not a region name", self.region));
        }
        Ok(Location {
            endpoint,
            bucket,
            prefix,
            region: self.region.clone(),
            path_style: self.path_style,
        })
    }
}

/// `s3://bucket[/prefix]` as bucket and prefix (no slashes at its ends).
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{url:?} is not an s3://bucket/prefix URL"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let ok_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
    if !ok_bucket {
        return Err(format!(
            "{bucket:?} in {url:?} is not a bucket name (3 to 63 lower-case letters, digits, '-', '.')"
        ));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|p| p == "." || p == "..") {
        return Err(format!("the prefix of {url:?} has a '.' or '..' part"));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// Why a replica could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    #[error("the archive has no replica named {name:?}; `capstan replica list` shows them")]
    Unknown { name: String },
    #[error("replica {name}: {detail}")]
    Settings { name: String, detail: String },
    #[error("{0}")]
    Credentials(String),
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(#[from] crate::catalogue::RecordError),
}

/// A store for replica `r`, with credentials from the environment.
pub fn open(r: &ReplicaSettings) -> Result<Store, ReplicaError> {
    let location = r.location().map_err(|detail| ReplicaError::Settings {
        name: r.name.clone(),
        detail,
    })?;
    let credentials = s3::Credentials::from_environment().map_err(ReplicaError::Credentials)?;
    Ok(Store::new(location, credentials))
}

/// The archive's replicas named `only` (all of them if `None`).
pub fn chosen(archive: &Archive, only: Option<&str>) -> Result<Vec<ReplicaSettings>, ReplicaError> {
    let all = crate::archive::settings::read(archive)?.replicas;
    match only {
        None => Ok(all),
        Some(name) => all
            .into_iter()
            .find(|r| r.name == name)
            .map(|r| vec![r])
            .ok_or_else(|| ReplicaError::Unknown { name: name.into() }),
    }
}

/// Proves a new replica usable: a small object is written, read back by HEAD with its
/// checksum, and left as `<prefix>/.capstan-replica` (it names the archive's replica).
pub fn probe(store: &Store, name: &str) -> Result<(), ReplicaError> {
    let body = format!("Capstan replica {name}\n");
    let sha: [u8; 32] = Sha256::digest(body.as_bytes()).into();
    let key = store.location.key(".capstan-replica");
    store.put(
        &key,
        &sha,
        Upload {
            len: body.len() as u64,
            reader: &mut body.as_bytes(),
        },
    )?;
    match store.head(&key)? {
        Some(h) if h.sha256 == Some(sha) => Ok(()),
        other => Err(ReplicaError::S3(S3Error::Server {
            what: format!("HEAD {key}"),
            status: 200,
            detail: format!(
                "the object just written came back as {other:?}: this store does not keep SHA-256 checksums, so its copies could not be proved"
            ),
        })),
    }
}

/// One file of the archive as a replica should hold it.
#[derive(Debug, Clone)]
pub struct Expected {
    /// `collection/id`
    pub item: String,
    /// Path in the bag.
    pub file: String,
    /// The file in the archive (none when the replica's own manifests say what it holds).
    pub local: Option<PathBuf>,
    pub sha256: [u8; 32],
    /// Its size, where known (a manifest gives none).
    pub size: Option<u64>,
}

impl Expected {
    /// `collection/id/path`: the key below the replica's prefix.
    pub fn rel(&self) -> String {
        format!("{}/{}", self.item, self.file)
    }
}

/// What the archive's bags hold, in the order a replica receives it (per bag: payload, tag
/// files, tag manifests last), and what could not be listed (a local problem for `verify`).
pub fn archive_objects(archive: &Archive) -> Result<(Vec<Expected>, Vec<String>), ReplicaError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReplicaError::Io { path, source }
    };
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let bags = bag::find_bags(&archive.root).map_err(io(&archive.root))?;
    for dir in bags {
        let Some(item) = dir
            .strip_prefix(&archive.root)
            .ok()
            .and_then(Path::to_str)
            .filter(|rel| rel.split('/').count() == 2)
            .map(str::to_string)
        else {
            continue;
        };
        bag_objects(&dir, item, &mut out, &mut skipped)?;
    }
    Ok((out, skipped))
}

/// [`archive_objects`] of one bag, `dir`, the archive's item `item` (`collection/id`).
pub fn bag_objects(
    dir: &Path,
    item: String,
    out: &mut Vec<Expected>,
    skipped: &mut Vec<String>,
) -> Result<(), ReplicaError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReplicaError::Io { path, source }
    };
    let sha256_of = |name: &str, digests: &BTreeMap<String, String>| hex32(digests.get(name)?);
    let read_manifest = |name: &str| -> Result<BTreeMap<String, String>, ReplicaError> {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        Ok(bag::parse_manifest(name, "sha256", &bytes)
            .entries
            .into_iter()
            .map(|e| (e.path, e.digest))
            .collect())
    };
    let payload = match read_manifest("manifest-sha256.txt") {
        Ok(m) => m,
        Err(e) => {
            skipped.push(format!("{item}: no SHA-256 manifest to replicate by ({e})"));
            return Ok(());
        }
    };
    let tags = read_manifest("tagmanifest-sha256.txt").unwrap_or_default();
    let entry = |file: &str, sha256: [u8; 32]| match std::fs::symlink_metadata(dir.join(file)) {
        Ok(m) if m.is_file() => Ok(Expected {
            item: item.clone(),
            file: file.to_string(),
            local: Some(dir.join(file)),
            sha256,
            size: Some(m.len()),
        }),
        _ => Err(format!("{item}/{file}: not a regular file in the archive")),
    };
    let mut push = |e: Result<Expected, String>| match e {
        Ok(e) => out.push(e),
        Err(why) => skipped.push(why),
    };
    for file in payload.keys() {
        if !safe_payload_path(file) {
            push(Err(format!(
                "{item}: {file:?} is not a path inside the bag"
            )));
            continue;
        }
        match sha256_of(file, &payload) {
            Some(d) => push(entry(file, d)),
            None => push(Err(format!("{item}/{file}: a malformed manifest line"))),
        }
    }
    // Tag files: those the tag manifest proves, then the tag manifests themselves (whose
    // digest is taken here: nothing else records it).
    for file in tags
        .keys()
        .filter(|f| safe_payload_path(f) && !f.contains('/'))
    {
        match sha256_of(file, &tags) {
            Some(d) => push(entry(file, d)),
            None => push(Err(format!("{item}/{file}: a malformed tag manifest line"))),
        }
    }
    let mut tag_manifests: Vec<String> = bag::manifest_files(dir)
        .map_err(io(dir))?
        .into_iter()
        .filter(|(_, _, is_tag)| *is_tag)
        .map(|(name, _, _)| name)
        .collect();
    tag_manifests.sort();
    for name in tag_manifests {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        push(entry(&name, Sha256::digest(&bytes).into()));
    }
    Ok(())
}

/// What happened to one file on one replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case", tag = "finding")]
pub enum Finding {
    /// Sent, and accepted by the server against its SHA-256.
    Replicated,
    /// Already there with the same checksum.
    Present,
    /// Not there (an audit).
    Missing,
    /// There with another checksum or size (never overwritten).
    Different { detail: String },
    /// There with no stored SHA-256 to prove it by (never overwritten).
    Unproven { detail: String },
    /// In the replica, not in the archive (an audit).
    Unexpected,
    /// The archive's own file does not match its manifest: not replicated.
    LocalDamage { detail: String },
    /// The store could not be asked or refused the request.
    Unreachable { detail: String },
}

impl Finding {
    pub fn is_problem(&self) -> bool {
        !matches!(self, Finding::Replicated | Finding::Present)
    }
}

/// What a replica's own bags say it should hold, read from their manifests (the only objects
/// downloaded: `manifest-sha256.txt` and `tagmanifest-sha256.txt` of each bag), for an audit
/// of a replica without its archive (`capstan verify s3://…`). A tag manifest is expected
/// to be stored with the SHA-256 of the bytes read.
pub fn replica_objects(store: &Store) -> Result<(Vec<Expected>, Vec<String>), ReplicaError> {
    let root = store.location.key("");
    let listed = store.list(&root)?;
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (key, _) in &listed {
        let Some(rel) = key.strip_prefix(&root) else {
            continue;
        };
        let parts: Vec<&str> = rel.split('/').collect();
        let [collection, id, "manifest-sha256.txt"] = parts[..] else {
            continue;
        };
        let item = format!("{collection}/{id}");
        for (name, tag) in [
            ("manifest-sha256.txt", false),
            ("tagmanifest-sha256.txt", true),
        ] {
            let Some(bytes) = store.get_small(&store.location.key(&format!("{item}/{name}")))?
            else {
                if tag {
                    skipped.push(format!("{item}: no tag manifest in the replica"));
                }
                continue;
            };
            for e in bag::parse_manifest(name, "sha256", &bytes).entries {
                match hex32(&e.digest) {
                    Some(d) if safe_payload_path(&e.path) => out.push(Expected {
                        item: item.clone(),
                        file: e.path,
                        local: None,
                        sha256: d,
                        size: None,
                    }),
                    _ => skipped.push(format!(
                        "{item}/{name}: line {} is not a SHA-256 of a path in the bag",
                        e.line
                    )),
                }
            }
            if tag {
                out.push(Expected {
                    item: item.clone(),
                    file: name.to_string(),
                    local: None,
                    sha256: Sha256::digest(&bytes).into(),
                    size: Some(bytes.len() as u64),
                });
            }
        }
    }
    // The audit that follows lists the same prefix: it takes this listing instead.
    store.keep_listing(&root, listed);
    Ok((out, skipped))
}

pub(crate) fn hex32(hex: &str) -> Option<[u8; 32]> {
    let mut d = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(d)
}

/// One line of a replication or audit report.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct FileReport {
    pub replica: String,
    /// `collection/id/path` (below the replica's prefix).
    pub path: String,
    #[serde(flatten)]
    pub finding: Finding,
    /// What the store holds to prove it by (an audit's HEAD): `sha256:<hex>`, or for an object
    /// sent in parts `crc64nvme:<hex> sha256:<hex>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub stored: Option<String>,
}

/// A run over one replica: its files, and what it cost.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct RunReport {
    pub files: Vec<FileReport>,
    pub requests: u64,
    /// Bytes of objects' bodies received (an audit's are listings only).
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// The run stopped: the store could not be asked.
    pub unreachable: Option<String>,
}

/// Reads `path` as an upload, hashing what is read; the digest is checked once it is all read.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Test hook: the file whose path ends with this is sent with one byte changed, to prove the
/// server refuses a body that does not match its checksum.
const CORRUPT_ENV: &str = "CAPSTAN_TEST_CORRUPT_UPLOAD";

/// Test hook: after this many files sent, the run writes the file named by
/// `CAPSTAN_TEST_PAUSE_MARK` and pauses for five seconds, once, so that a test can stop the
/// server in the middle of a replication.
const PAUSE_ENV: &str = "CAPSTAN_TEST_PAUSE_AFTER_PUTS";

static PUTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn pause_for_tests() {
    let sent = PUTS.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
    let at = std::env::var(PAUSE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    if at == Some(sent) {
        if let Some(mark) = std::env::var_os("CAPSTAN_TEST_PAUSE_MARK") {
            let _ = std::fs::write(mark, b"paused\n");
        }
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}

struct Corrupting<R>(R, bool);

impl<R: Read> Read for Corrupting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        if self.1 && n > 0 {
            buf[0] ^= 0x5a;
            self.1 = false;
        }
        Ok(n)
    }
}

/// `jobs` threads for the requests to replica `name`.
fn pool(name: &str, jobs: usize) -> Result<rayon::ThreadPool, ReplicaError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| ReplicaError::Settings {
            name: name.to_string(),
            detail: format!("no threads for {jobs} jobs: {e}"),
        })
}

/// Checks one object of a replica against the SHA-256 (and size) the manifest gives, by one
/// HEAD for its stored checksum: `present`, `missing`, `different` or `unproven`. An error
/// is the store not answering, never a finding.
pub fn check_stored(
    store: &Store,
    item: &str,
    file: &str,
    sha256: &[u8; 32],
    size: Option<u64>,
) -> Result<Finding, S3Error> {
    let o = Expected {
        item: item.to_string(),
        file: file.to_string(),
        local: None,
        sha256: *sha256,
        size,
    };
    Ok(match store.head(&store.location.key(&o.rel()))? {
        None => Finding::Missing,
        Some(h) => judge(&h, &o),
    })
}

/// What a HEAD proves of an object against the manifest: its stored SHA-256; or, for an
/// object sent in parts, the full-object CRC64NVME the server proved on arrival together with
/// the SHA-256 Capstan proved the same read by (`x-amz-meta-capstan-sha256`). Nothing else
/// counts: an object without either is `unproven`, never taken as present.
fn judge(h: &s3::Head, o: &Expected) -> Finding {
    let size_ok = o.size.is_none_or(|s| s == h.size);
    let sizes = || {
        o.size
            .map_or(String::new(), |s| format!(" ({s} bytes here)"))
    };
    match (h.sha256, h.crc64nvme, h.sent_sha256) {
        (Some(d), _, _) if d == o.sha256 && size_ok => Finding::Present,
        (Some(d), _, _) => Finding::Different {
            detail: format!(
                "{} bytes with SHA-256 {}; the manifest says {}{}; left as it is",
                h.size,
                crate::flac::hex(&d),
                crate::flac::hex(&o.sha256),
                sizes()
            ),
        },
        (None, Some(_), Some(d)) if d == o.sha256 && size_ok => Finding::Present,
        (None, Some(_), Some(d)) => Finding::Different {
            detail: format!(
                "{} bytes sent in parts as SHA-256 {}; the manifest says {}{}; left as it is",
                h.size,
                crate::flac::hex(&d),
                crate::flac::hex(&o.sha256),
                sizes()
            ),
        },
        _ => Finding::Unproven {
            detail: format!(
                "{} bytes with no stored SHA-256 (nor a full-object CRC64NVME of a proved upload) to prove them by; left as it is",
                h.size
            ),
        },
    }
}

/// The archive's own file read with digest `read`, not its manifest's: not replicated.
fn local_damage(read: &[u8; 32], o: &Expected) -> Finding {
    Finding::LocalDamage {
        detail: format!(
            "the archive's file has SHA-256 {}, its manifest {}: not replicated (run `capstan verify`)",
            crate::flac::hex(read),
            crate::flac::hex(&o.sha256)
        ),
    }
}

/// Why one file's replication stopped the run.
enum Stop {
    /// The store could not be asked: the run ends, resumable.
    Unreachable(String),
    Local(ReplicaError),
}

/// One file: skipped, sent or found wanting; and the bytes sent.
fn replicate_one(
    store: &Store,
    o: &Expected,
    corrupt: Option<&str>,
) -> Result<(Finding, u64), Stop> {
    let key = store.location.key(&o.rel());
    let (Some(local), Some(size)) = (&o.local, o.size) else {
        return Err(Stop::Local(ReplicaError::Settings {
            name: store.location.url(),
            detail: format!("{} has no file in the archive to send", o.rel()),
        }));
    };
    let found = match store.head(&key) {
        Err(e) if e.unreachable() => return Err(Stop::Unreachable(e.to_string())),
        Err(e) => {
            return Ok((
                Finding::Unreachable {
                    detail: e.to_string(),
                },
                0,
            ))
        }
        Ok(found) => found,
    };
    if let Some(h) = found {
        return Ok((judge(&h, o), 0));
    }
    let f = std::fs::File::open(local).map_err(|source| {
        Stop::Local(ReplicaError::Io {
            path: local.clone(),
            source,
        })
    })?;
    let damage = corrupt.is_some_and(|c| o.rel().ends_with(c));
    if size > multipart_part_bytes() {
        return replicate_in_parts(store, o, &key, Corrupting(f, damage), size, damage);
    }
    let mut reader = Hashing {
        inner: Corrupting(f, damage),
        hasher: Sha256::new(),
        read: 0,
    };
    let sent = store.put(
        &key,
        &o.sha256,
        Upload {
            len: size,
            reader: &mut reader,
        },
    );
    let read: [u8; 32] = reader.hasher.finalize().into();
    let finding = match sent {
        Ok(()) => {
            pause_for_tests();
            Finding::Replicated
        }
        // The archive's own copy does not match its manifest: local damage, which the server
        // rightly refused.
        Err(S3Error::BadDigest { .. }) if read != o.sha256 && !damage => local_damage(&read, o),
        Err(e @ S3Error::BadDigest { .. }) => Finding::Different {
            detail: e.to_string(),
        },
        Err(e) if e.unreachable() => return Err(Stop::Unreachable(e.to_string())),
        Err(e) => Finding::Unreachable {
            detail: e.to_string(),
        },
    };
    Ok((finding, reader.read))
}

/// The size of a multipart upload's parts, and the size above which a file goes in parts:
/// 64 MiB, or `CAPSTAN_MULTIPART_PART_BYTES` (at least S3's 5 MiB).
fn multipart_part_bytes() -> u64 {
    std::env::var("CAPSTAN_MULTIPART_PART_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 20u64)
        .max(5 << 20)
}

/// CRC64NVME (the full-object checksum S3 keeps for multipart uploads).
pub const CRC64NVME: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_NVME);

/// A large file in parts, read once: the SHA-256 and CRC64NVME of the whole, and the CRC64NVME
/// of each part, computed in the same read. The upload is completed only when the SHA-256
/// equals the manifest's; the server then proves the whole object's CRC64NVME against what it
/// received, and keeps it (and the SHA-256 as `x-amz-meta-capstan-sha256`) for audits.
fn replicate_in_parts(
    store: &Store,
    o: &Expected,
    key: &str,
    mut reader: impl Read,
    size: u64,
    damage: bool,
) -> Result<(Finding, u64), Stop> {
    let unreachable = |e: S3Error| Stop::Unreachable(e.to_string());
    let id = store.start_multipart(key, &o.sha256).map_err(unreachable)?;
    let part_bytes = multipart_part_bytes() as usize;
    let mut buf = vec![0u8; part_bytes];
    let mut sha = Sha256::new();
    let mut whole = CRC64NVME.digest();
    let mut parts = Vec::new();
    let mut sent = 0u64;
    let outcome = (|| {
        loop {
            let mut n = 0;
            while n < part_bytes {
                let got = reader.read(&mut buf[n..]).map_err(|source| {
                    Stop::Local(ReplicaError::Io {
                        path: o.local.clone().unwrap_or_default(),
                        source,
                    })
                })?;
                if got == 0 {
                    break;
                }
                n += got;
            }
            if n == 0 {
                break;
            }
            let part = &buf[..n];
            sha.update(part);
            whole.update(part);
            let crc = CRC64NVME.checksum(part);
            let number = parts.len() as u32 + 1;
            let etag = store
                .put_part(key, &id, number, part, crc)
                .map_err(unreachable)?;
            parts.push((number, etag, crc));
            sent += n as u64;
        }
        Ok(())
    })();
    let abort = |finding: Finding| {
        let _ = store.abort_multipart(key, &id);
        Ok((finding, sent))
    };
    if let Err(stop) = outcome {
        let _ = store.abort_multipart(key, &id);
        return Err(stop);
    }
    let read: [u8; 32] = sha.finalize().into();
    if sent != size || read != o.sha256 {
        return abort(match damage {
            true => Finding::Different {
                detail: "the bytes read do not match the manifest's SHA-256: the upload was abandoned, nothing stored".into(),
            },
            false => local_damage(&read, o),
        });
    }
    match store.complete_multipart(key, &id, &parts, whole.finalize()) {
        Ok(()) => {
            pause_for_tests();
            Ok((Finding::Replicated, sent))
        }
        Err(e) if e.unreachable() => {
            let _ = store.abort_multipart(key, &id);
            Err(Stop::Unreachable(e.to_string()))
        }
        Err(e) => abort(Finding::Different {
            detail: e.to_string(),
        }),
    }
}

/// Pushes every file of `objects` that `store` lacks, `jobs` bags at a time (each bag's files
/// in their order: payload, tag files, tag manifest last), recording a `replication` event per
/// file sent; stops at the first sign the store cannot be asked.
pub fn replicate(
    archive: &Archive,
    name: &str,
    store: &Store,
    objects: &[Expected],
    jobs: usize,
    progress: &(dyn Fn(&FileReport) + Sync),
) -> Result<RunReport, ReplicaError> {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    let corrupt = std::env::var(CORRUPT_ENV).ok().filter(|v| !v.is_empty());
    let gave_up = AtomicBool::new(false);
    let indexed: Vec<(usize, &Expected)> = objects.iter().enumerate().collect();
    let bags: Vec<&[(usize, &Expected)]> = indexed.chunk_by(|a, b| a.1.item == b.1.item).collect();
    let pool = pool(name, jobs)?;
    type Done = Vec<(usize, Result<(Finding, u64), Stop>)>;
    let done: Vec<Done> = pool.install(|| {
        bags.par_iter()
            .map(|bag| {
                let mut out = Vec::new();
                for &(at, o) in *bag {
                    if gave_up.load(Ordering::Acquire) {
                        break;
                    }
                    let r = replicate_one(store, o, corrupt.as_deref());
                    let stop = r.is_err();
                    if let Ok((finding, _)) = &r {
                        progress(&FileReport {
                            replica: name.to_string(),
                            path: o.rel(),
                            finding: finding.clone(),
                            stored: None,
                        });
                    }
                    out.push((at, r));
                    if stop {
                        gave_up.store(true, Ordering::Release);
                        break;
                    }
                }
                out
            })
            .collect()
    });
    let mut done: Done = done.into_iter().flatten().collect();
    done.sort_by_key(|(at, _)| *at);
    let mut report = RunReport::default();
    let mut events = Vec::new();
    let date_time = crate::units::now_rfc3339();
    let agent = crate::ingest::agent();
    let mut local_error = None;
    for (at, r) in done {
        let o = &objects[at];
        match r {
            Ok((finding, sent)) => {
                report.bytes_sent += sent;
                if finding == Finding::Replicated {
                    events.push(Event {
                        date_time: date_time.clone(),
                        event_type: EventType::Replication,
                        item: o.item.clone(),
                        file: Some(o.file.clone()),
                        outcome: Outcome::Pass,
                        detail: format!(
                            "copied to replica {name} ({}), {} bytes, SHA-256 proved by the server",
                            store.location.url(),
                            o.size.unwrap_or(0)
                        ),
                        agent: agent.clone(),
                        copy: Some(format!("replica {name}")),
                    });
                }
                report.files.push(FileReport {
                    replica: name.to_string(),
                    path: o.rel(),
                    finding,
                    stored: None,
                });
            }
            Err(Stop::Unreachable(why)) => {
                report.unreachable.get_or_insert(why);
            }
            Err(Stop::Local(e)) => {
                local_error.get_or_insert(e);
            }
        }
    }
    report.requests = store.requests.load(Ordering::Relaxed);
    report.bytes_received = store.bytes_received.load(Ordering::Relaxed);
    // What was sent is recorded even when the run then stopped.
    if !events.is_empty() {
        crate::catalogue::record(archive, None, &events)?;
    }
    match local_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Audits `store` against `objects` without downloading them: one listing, then a HEAD per
/// expected object for its stored checksum (`jobs` at a time). With `deep`, each object is
/// then also read back in full through the checks of a local `verify --deep`
/// ([`deep::check_object`]). Records a `fixity check` event per bag when an archive is given.
pub fn audit(
    archive: Option<&Archive>,
    name: &str,
    store: &Store,
    objects: &[Expected],
    jobs: usize,
    deep: bool,
) -> Result<RunReport, ReplicaError> {
    let mut report = RunReport::default();
    let listed = match store.listing(&store.location.key("")) {
        Ok(l) => l,
        Err(e) => {
            report.unreachable = Some(e.to_string());
            report.requests = store.requests.load(std::sync::atomic::Ordering::Relaxed);
            return Ok(report);
        }
    };
    let root = store.location.key("");
    let listed: BTreeMap<String, u64> = listed
        .into_iter()
        .filter_map(|(k, size)| Some((k.strip_prefix(&root)?.to_string(), size)))
        .filter(|(k, _)| k != ".capstan-replica")
        .collect();
    let seen: std::collections::BTreeSet<String> = objects.iter().map(Expected::rel).collect();
    let pool = pool(name, jobs)?;
    type Asked = Result<(Option<s3::Head>, Option<Finding>), S3Error>;
    let heads: Vec<Asked> = pool.install(|| {
        use rayon::prelude::*;
        objects
            .par_iter()
            .map(|o| {
                let Some(&size) = listed.get(&o.rel()) else {
                    return Ok((None, None));
                };
                let head = store.head(&store.location.key(&o.rel()))?;
                let read = match (deep, &head) {
                    (true, Some(_)) => Some(deep::check_object(store, o, size)?),
                    _ => None,
                };
                Ok((head, read))
            })
            .collect()
    });
    for (o, asked) in objects.iter().zip(heads) {
        let rel = o.rel();
        let (finding, stored) = match asked {
            Err(e) => {
                report.unreachable.get_or_insert(e.to_string());
                continue;
            }
            Ok((None, _)) | Ok((_, Some(Finding::Missing))) => (Finding::Missing, None),
            Ok((Some(h), read)) => {
                let stored = match (h.sha256, h.crc64nvme, h.sent_sha256) {
                    (Some(d), _, _) => Some(format!("sha256:{}", crate::flac::hex(&d))),
                    (None, Some(c), Some(d)) => Some(format!(
                        "crc64nvme:{c:016x} sha256:{}",
                        crate::flac::hex(&d)
                    )),
                    (None, Some(c), None) => Some(format!("crc64nvme:{c:016x}")),
                    _ => None,
                };
                // What the store claims, then what its bytes are: the first that is wrong.
                let finding = match (judge(&h, o), read) {
                    (Finding::Present, Some(read)) => read,
                    (Finding::Unproven { .. }, Some(Finding::Present)) => Finding::Present,
                    (Finding::Different { detail }, Some(Finding::Different { detail: d })) => {
                        Finding::Different {
                            detail: format!("{detail}; {d}"),
                        }
                    }
                    (Finding::Unproven { detail }, Some(Finding::Different { detail: d })) => {
                        Finding::Different {
                            detail: format!("{detail}; {d}"),
                        }
                    }
                    (claimed, _) => claimed,
                };
                (finding, stored)
            }
        };
        report.files.push(FileReport {
            replica: name.to_string(),
            path: rel,
            finding,
            stored,
        });
    }
    if report.unreachable.is_none() {
        for k in listed.keys().filter(|k| !seen.contains(*k)) {
            report.files.push(FileReport {
                replica: name.to_string(),
                path: k.clone(),
                finding: Finding::Unexpected,
                stored: None,
            });
        }
    }
    report.requests = store.requests.load(std::sync::atomic::Ordering::Relaxed);
    report.bytes_received = store
        .bytes_received
        .load(std::sync::atomic::Ordering::Relaxed);
    if let (Some(archive), None) = (archive, &report.unreachable) {
        record_audit(archive, name, store, objects, &report, deep)?;
    }
    Ok(report)
}

/// A `fixity check` event per bag audited (and per file found wanting), concerning the replica.
fn record_audit(
    archive: &Archive,
    name: &str,
    store: &Store,
    objects: &[Expected],
    report: &RunReport,
    deep: bool,
) -> Result<(), ReplicaError> {
    let date_time = crate::units::now_rfc3339();
    let agent = crate::ingest::agent();
    let mut per_item: BTreeMap<&str, (usize, Vec<&FileReport>)> = BTreeMap::new();
    for o in objects {
        per_item.entry(o.item.as_str()).or_default().0 += 1;
    }
    for f in report.files.iter().filter(|f| f.finding.is_problem()) {
        let item = f.path.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
        if let Some((k, v)) = per_item.iter_mut().find(|(k, _)| **k == item) {
            let _ = k;
            v.1.push(f);
        }
    }
    let event = |item: &str, file: Option<String>, outcome: Outcome, detail: String| Event {
        date_time: date_time.clone(),
        event_type: EventType::FixityCheck,
        item: item.to_string(),
        file,
        outcome,
        detail,
        agent: agent.clone(),
        copy: Some(format!("replica {name}")),
    };
    let mut events = Vec::new();
    for (item, (files, problems)) in per_item {
        events.push(event(
            item,
            None,
            Outcome::pass_if(problems.is_empty()),
            match problems.len() {
                0 if deep => format!(
                    "replica {name} ({}), deep: {files} file(s) read back in full, every one's SHA-256 matches the manifests, every FLAC's frame CRCs and audio MD5 good",
                    store.location.url()
                ),
                0 => format!(
                    "replica {name} ({}): {files} file(s), every stored SHA-256 matches the manifests",
                    store.location.url()
                ),
                n => format!(
                    "replica {name} ({}){}: {n} problem(s)",
                    store.location.url(),
                    if deep { ", deep" } else { "" }
                ),
            },
        ));
        for p in problems {
            let file = p.path.splitn(3, '/').nth(2).map(str::to_string);
            events.push(event(
                item,
                file,
                Outcome::Fail,
                format!("replica {name}: {}", describe(&p.finding)),
            ));
        }
    }
    if !events.is_empty() {
        crate::catalogue::record(archive, None, &events)?;
    }
    Ok(())
}

/// A finding in words.
pub fn describe(f: &Finding) -> String {
    match f {
        Finding::Replicated => "replicated".into(),
        Finding::Present => "present, checksum matches".into(),
        Finding::Missing => "missing".into(),
        Finding::Different { detail } => format!("different: {detail}"),
        Finding::Unproven { detail } => format!("unproven: {detail}"),
        Finding::Unexpected => "unexpected: not in the archive".into(),
        Finding::LocalDamage { detail } => format!("local damage: {detail}"),
        Finding::Unreachable { detail } => format!("unreachable: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_settings_are_checked() {
        assert_eq!(
            parse_url("s3://archive-copies/station-1/").unwrap(),
            ("archive-copies".into(), "station-1".into())
        );
        assert_eq!(parse_url("s3://abc").unwrap(), ("abc".into(), "".into()));
        for bad in ["http://abc/x", "s3://AB/x", "s3://a/x", "s3://abc/../x"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let mut r = ReplicaSettings {
            name: "offsite".into(),
            url: "s3://archive-copies/station-1".into(),
            endpoint: "http://127.0.0.1:8333/".into(),
            region: "us-east-1".into(),
            path_style: true,
            auto: false,
        };
        let l = r.location().unwrap();
        assert_eq!(l.endpoint, "http://127.0.0.1:8333");
        assert_eq!(
            l.key("tapes/a/data/a.flac"),
            "station-1/tapes/a/data/a.flac"
        );
        assert_eq!(l.url(), "s3://archive-copies/station-1");
        r.name = "off site".into();
        assert!(r.check().unwrap_err().contains("name"));
        r.name = "offsite".into();
        r.endpoint = "ftp://x".into();
        assert!(r.check().unwrap_err().contains("endpoint"));
    }
}
