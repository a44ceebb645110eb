//! One archived item as a person looks at it (the station app's item detail): what its bag
//! says (`bag-info.txt`), the archival metadata of its masters (their Vorbis comments), its
//! files with their digests and last checks, its history, and its QC report.
//!
//! The item is named as `capstan log` names it (`collection/id`, or a bare id when only one
//! collection has it) and resolved through the catalogue; its collection and id are held to
//! the identifier rules before any path is made of them, so no name can reach outside the
//! archive. Every file is opened through the archive's confined opener
//! ([`crate::archive::confined`]), relative to the archive's root: never through a symbolic
//! link (the collection, the bag or the file), and a FIFO or device is refused, not read.

use crate::archive::confined::Access;
use crate::archive::events::Event;
use crate::archive::item_id::ItemId;
use crate::archive::premis;
use crate::archive::Archive;
use crate::catalogue::{Catalogue, CatalogueError, FileRow};
use crate::metadata::MetadataError;
use crate::report::QcReport;
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most of a QC report or `bag-info.txt` read (a report lists at most tens of thousands
/// of defects; anything larger is not Capstan's).
const MAX_TAG_FILE: u64 = 64 << 20;

/// Why an item could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("no item {name} in the archive")]
    Unknown { name: String },
    #[error("{0}")]
    Name(#[from] MetadataError),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error(
        "item {item}: its QC report could not be read ({detail}), so its masters are not known"
    )]
    Report { item: String, detail: String },
    #[error("item {item}: {source}")]
    Master {
        item: String,
        source: crate::flac::FlacError,
    },
}

/// An item, for its detail view.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ItemView {
    /// `collection/id`
    pub item: String,
    pub bag: PathBuf,
    /// `bag-info.txt`'s fields in order (empty if it could not be read: see `unreadable`).
    pub bag_info: Vec<(String, String)>,
    /// The Vorbis comments of each master, by its path in the bag.
    pub tags: Vec<(String, Vec<(String, String)>)>,
    /// Payload files with their SHA-256, status and last fixity check.
    pub files: Vec<FileRow>,
    pub history: Vec<Event>,
    /// The QC report (`data/<id>.qc.json`).
    pub qc: Option<QcReport>,
    /// What could not be read, each with its reason (the view shows the rest).
    pub unreadable: Vec<String>,
}

/// Opens `rel` (a path in the archive) for reading through the confined opener.
fn open_in(archive: &Archive, rel: &Path) -> Result<std::fs::File, String> {
    let path = archive.root.join(rel);
    archive
        .root_dir()
        .map_err(|e| e.to_string())?
        .open_file(rel, Access::Read)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads `rel` (a path in the archive), refusing links, FIFOs and anything larger than
/// [`MAX_TAG_FILE`].
fn read_small(archive: &Archive, rel: &Path) -> Result<Vec<u8>, String> {
    let path = archive.root.join(rel);
    let f = open_in(archive, rel)?;
    let mut bytes = Vec::new();
    f.take(MAX_TAG_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_TAG_FILE {
        return Err(format!(
            "{}: larger than {MAX_TAG_FILE} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

/// The item's QC report (`data/<id>.qc.json`) as written, or why it could not be read.
fn read_qc(archive: &Archive, bag: &Path, id: &str) -> Result<QcReport, String> {
    let rel = bag.join("data").join(format!("{id}.qc.json"));
    let path = archive.root.join(&rel);
    let bytes = read_small(archive, &rel)?;
    QcReport::read(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// An item named by a person, resolved: `collection/id`, its id, and its bag.
struct Resolved {
    item: String,
    id: String,
    bag: PathBuf,
    /// The bag relative to the archive's root (`collection/id`).
    rel: PathBuf,
}

fn resolve(archive: &Archive, cat: &Catalogue, name: &str) -> Result<Resolved, ItemError> {
    let unknown = || ItemError::Unknown {
        name: name.to_string(),
    };
    let item = cat.resolve_item(name)?.ok_or_else(unknown)?;
    let named: ItemId = item.parse()?;
    Ok(Resolved {
        bag: archive.item_dir(&named.collection, &named.id),
        rel: named.bag(),
        id: named.id,
        item: item.clone(),
    })
}

/// The waveform overview of an archived item's first take, read back from the archive: each
/// of its masters in order (one per channel for per-channel layouts), `buckets` wide. The
/// masters are those its QC report names, held inside the bag; a damaged one is an error
/// naming its frame.
pub fn item_overview(
    archive: &Archive,
    name: &str,
    buckets: usize,
) -> Result<Vec<crate::review::Waveform>, ItemError> {
    let cat = Catalogue::open(archive)?;
    let Resolved { item, id, bag, rel } = resolve(archive, &cat, name)?;
    drop(cat);
    let report_err = |detail: String| ItemError::Report {
        item: item.clone(),
        detail,
    };
    let qc = read_qc(archive, &rel, &id).map_err(report_err)?;
    let masters: Vec<&str> = qc
        .takes
        .first()
        .map(|t| t.masters.iter().map(|m| m.file.as_str()).collect())
        .unwrap_or_default();
    if masters.is_empty() {
        return Err(report_err("it names no master".into()));
    }
    masters
        .into_iter()
        .map(|file| {
            if !crate::archive::bag::safe_payload_path(file) {
                return Err(report_err(format!("{file:?} is not a path inside the bag")));
            }
            // libFLAC opens the master by path; the confined opener first proves it is a
            // regular file reached through no link, so a link or FIFO is refused, not read.
            open_in(archive, &rel.join(file)).map_err(report_err)?;
            crate::review::overview(&bag.join(file), buckets).map_err(|source| ItemError::Master {
                item: item.clone(),
                source,
            })
        })
        .collect()
}

/// What is heard when lane `lane` of an archived item's overview is played: the master of its
/// first take that holds that channel, and the access copy made from it. Both are proved to be
/// regular files inside the archive, reached through no link, before anything opens them.
pub fn item_listenable(
    archive: &Archive,
    name: &str,
    lane: usize,
) -> Result<crate::playback::Listenable, ItemError> {
    let cat = Catalogue::open(archive)?;
    let Resolved { item, id, rel, .. } = resolve(archive, &cat, name)?;
    drop(cat);
    let report_err = |detail: String| ItemError::Report {
        item: item.clone(),
        detail,
    };
    let qc = read_qc(archive, &rel, &id).map_err(report_err)?;
    let take = qc
        .takes
        .first()
        .ok_or_else(|| report_err("it names no take".into()))?;
    let found = crate::playback::listenables(&rel, take)
        .map_err(report_err)?
        .into_iter()
        .find(|l| l.lanes.contains(&lane))
        .ok_or_else(|| report_err(format!("its first take has no channel {}", lane + 1)))?;
    for file in std::iter::once(&found.master).chain(&found.copy) {
        open_in(archive, file).map_err(report_err)?;
    }
    Ok(crate::playback::Listenable {
        master: archive.root.join(&found.master),
        copy: found.copy.map(|c| archive.root.join(c)),
        lanes: found.lanes,
    })
}

/// The item `name` of `archive`.
pub fn item_view(archive: &Archive, name: &str) -> Result<ItemView, ItemError> {
    let cat = Catalogue::open(archive)?;
    let Resolved { item, id, bag, rel } = resolve(archive, &cat, name)?;
    let id = id.as_str();
    let files = cat.files_of(&item)?;
    let history = cat.history(Some(&item))?;
    let mut unreadable = Vec::new();
    let bag_info = match read_small(archive, &rel.join("bag-info.txt")) {
        Ok(bytes) => crate::archive::bag::parse_bag_info(&bytes).0,
        Err(e) => {
            unreadable.push(e);
            Vec::new()
        }
    };
    let qc = match read_qc(archive, &rel, id) {
        Ok(v) => Some(v),
        Err(e) => {
            unreadable.push(e);
            None
        }
    };
    let mut tags = Vec::new();
    // Masters as the manifest lists them (the catalogue's copy), never paths that leave the bag.
    for f in files
        .iter()
        .filter(|f| f.path.ends_with(".flac") && crate::archive::bag::safe_payload_path(&f.path))
    {
        let read = open_in(archive, &rel.join(&f.path)).and_then(|file| {
            crate::flac::tags::comments_of(&bag.join(&f.path), std::io::BufReader::new(file))
                .map_err(|e| e.to_string())
        });
        match read {
            Ok(t) => tags.push((f.path.clone(), t)),
            Err(e) => unreadable.push(e),
        }
    }
    Ok(ItemView {
        item,
        bag,
        bag_info,
        tags,
        files,
        history,
        qc,
        unreadable,
    })
}

impl ItemView {
    /// The item's preservation record in PREMIS 3 (see [`crate::archive::premis`]): its files
    /// as the catalogue knows them (size, SHA-256, a master's audio MD5, an access copy's
    /// source from the QC report) and its whole history, for `capstan log ITEM --premis`.
    pub fn premis(&self) -> String {
        let derived: Vec<(&str, &[String])> = self
            .qc
            .iter()
            .flat_map(|qc| &qc.takes)
            .filter_map(|t| t.access_copy.as_ref())
            .map(|ac| (ac.file.as_str(), ac.derived_from.as_slice()))
            .collect();
        let files: Vec<premis::File<'_>> = self
            .files
            .iter()
            .map(|f| premis::File {
                path: &f.path,
                bytes: f.bytes,
                sha256: &f.sha256,
                audio_md5: f.audio_md5.as_deref(),
                derived_from: derived
                    .iter()
                    .find(|(file, _)| *file == f.path)
                    .map_or(&[], |(_, from)| from),
            })
            .collect();
        premis::item_record(&self.item, &files, &self.history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{ingest, IngestRequest};
    use crate::metadata::Fields;
    use crate::profile::Profile;

    fn demo_item(archive: &Archive) {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("tape.wav");
        crate::demo::write_demo_wav(&wav).unwrap();
        let mut meta = Fields::default();
        meta.0.insert("TITLE".into(), "Reel one".into());
        meta.0.insert("TAPE_SPEED".into(), "7.5".into());
        meta.0.insert("ORGANIZATION".into(), "Test Archive".into());
        meta.0.insert("COUNTRY".into(), "GB".into());
        ingest(&IngestRequest {
            profile: Profile::load("quarter-inch-half-track-stereo").unwrap(),
            id: "reel-1".into(),
            collection: "tapes".into(),
            meta,
            archive: archive.clone(),
            sources: vec![wav],
            now: time::OffsetDateTime::UNIX_EPOCH,
            interrupt: None,
            capture: None,
        })
        .unwrap();
    }

    #[test]
    fn a_lane_is_heard_from_the_master_that_holds_it() {
        let root = tempfile::tempdir().unwrap();
        let archive = Archive::new(root.path());
        demo_item(&archive);
        let bag = root.path().join("tapes/reel-1");
        for lane in [0, 1] {
            let l = item_listenable(&archive, "reel-1", lane).unwrap();
            assert_eq!(l.master, bag.join("data/reel-1_pm.flac"));
            assert_eq!(l.copy, None, "this profile makes no access copy");
            assert_eq!(l.lanes, 0..2);
        }
        let err = item_listenable(&archive, "reel-1", 2).unwrap_err();
        assert!(err.to_string().contains("no channel 3"), "{err}");
        // A linked master is refused before anything opens it.
        let data = bag.join("data");
        let outside = tempfile::tempdir().unwrap();
        let decoy = outside.path().join("decoy.flac");
        std::fs::rename(data.join("reel-1_pm.flac"), &decoy).unwrap();
        std::os::unix::fs::symlink(&decoy, data.join("reel-1_pm.flac")).unwrap();
        let err = item_listenable(&archive, "reel-1", 0).unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
    }

    #[test]
    fn per_channel_masters_fill_a_lane_each_and_a_copy_pairs_only_with_its_one_master() {
        use crate::report::QcReport;
        let read = |edit: &dyn Fn(&mut serde_json::Value)| {
            let qc = QcReport::read(&crate::report::sample_qc_json(|v| edit(v))).unwrap();
            crate::playback::listenables(Path::new("bag"), &qc.takes[0])
        };
        let copy_of = |from: serde_json::Value| {
            serde_json::json!({
                "file": "data/x_ac.flac", "sha256": "00", "bytes": 1, "audio_md5": "00",
                "frames": 1, "derived_from": from, "processing": "declicked", "gain_db": 0.0,
                "gain_limited_by_true_peak": false, "integrated_lufs": null, "true_peak_dbtp": null,
            })
        };
        let stereo = read(&|_| {}).unwrap();
        assert_eq!(stereo.len(), 1);
        assert_eq!(stereo[0].lanes.len(), stereo[0].lanes.end);
        assert_eq!(stereo[0].copy, None);
        let with_copy = read(&|v| {
            let master = v["takes"][0]["masters"][0]["file"].clone();
            v["takes"][0]["access_copy"] = copy_of(serde_json::json!([master]));
        })
        .unwrap();
        assert_eq!(
            with_copy[0].copy.as_deref(),
            Some(Path::new("bag/data/x_ac.flac"))
        );
        let per_channel = read(&|v| {
            let m = v["takes"][0]["masters"][0].clone();
            let mut a = m.clone();
            a["file"] = "data/x_ch1.flac".into();
            a["channel"] = 1.into();
            let mut b = m;
            b["file"] = "data/x_ch2.flac".into();
            b["channel"] = 2.into();
            v["takes"][0]["masters"] = serde_json::json!([a, b]);
        })
        .unwrap();
        assert_eq!(
            per_channel
                .iter()
                .map(|l| l.lanes.clone())
                .collect::<Vec<_>>(),
            [0..1, 1..2]
        );
        assert_eq!(per_channel[1].master, Path::new("bag/data/x_ch2.flac"));
        let per_channel_copy = read(&|v| {
            let m = v["takes"][0]["masters"][0].clone();
            let mut b = m.clone();
            b["file"] = "data/x_ch2.flac".into();
            v["takes"][0]["masters"] = serde_json::json!([m.clone(), b]);
            v["takes"][0]["access_copy"] =
                copy_of(serde_json::json!([m["file"], "data/x_ch2.flac"]));
        })
        .unwrap();
        assert!(
            per_channel_copy.iter().all(|l| l.copy.is_none()),
            "{per_channel_copy:?}"
        );
        let escaping = read(&|v| v["takes"][0]["masters"][0]["file"] = "../../etc/x.flac".into());
        assert!(escaping.unwrap_err().contains("not a path inside the bag"));
    }

    #[test]
    fn an_item_shows_its_bag_info_tags_files_history_and_report() {
        let root = tempfile::tempdir().unwrap();
        let archive = Archive::new(root.path());
        demo_item(&archive);
        let v = item_view(&archive, "reel-1").unwrap();
        assert_eq!(v.item, "tapes/reel-1");
        assert!(v.unreadable.is_empty(), "{:?}", v.unreadable);
        assert!(v
            .bag_info
            .iter()
            .any(|(k, val)| k == "External-Identifier" && val == "reel-1"));
        let (master, tags) = &v.tags[0];
        assert_eq!(master, "data/reel-1_pm.flac");
        assert!(tags.contains(&("TITLE".into(), "Reel one".into())));
        assert!(tags.contains(&("TAPE_SPEED".into(), "7.5".into())));
        assert!(v.files.iter().any(|f| f.path == "data/reel-1.qc.json"));
        assert!(v.history.iter().any(|e| e.event_type == "ingestion"));
        assert_eq!(v.qc.as_ref().unwrap().item, "reel-1");
    }

    #[test]
    fn a_linked_master_or_a_fifo_report_is_named_unreadable_never_followed_or_blocked_on() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let archive = Archive::new(root.path());
        demo_item(&archive);
        let data = root.path().join("tapes/reel-1/data");
        // The master moved outside and linked back; a FIFO where the QC report was.
        let decoy = outside.path().join("decoy.flac");
        std::fs::rename(data.join("reel-1_pm.flac"), &decoy).unwrap();
        std::os::unix::fs::symlink(&decoy, data.join("reel-1_pm.flac")).unwrap();
        std::fs::remove_file(data.join("reel-1.qc.json")).unwrap();
        let c = std::ffi::CString::new(data.join("reel-1.qc.json").to_str().unwrap()).unwrap();
        // SAFETY: a valid C string and mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let v = item_view(&archive, "tapes/reel-1").unwrap();
        assert!(v.tags.is_empty(), "{:?}", v.tags);
        assert!(v.qc.is_none());
        let said = v.unreadable.join("\n");
        assert!(said.contains("reel-1_pm.flac: a symbolic link"), "{said}");
        assert!(
            said.contains("reel-1.qc.json: a FIFO, not a regular file"),
            "{said}"
        );
        // The overview refuses too: the report (a FIFO) is never read.
        let err = item_overview(&archive, "tapes/reel-1", 100).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        // With the report back, the linked master is refused before libFLAC opens it.
        std::fs::remove_file(data.join("reel-1.qc.json")).unwrap();
        std::fs::write(
            data.join("reel-1.qc.json"),
            crate::report::sample_qc_json(|v| {
                v["takes"][0]["masters"][0]["file"] = "data/reel-1_pm.flac".into();
            }),
        )
        .unwrap();
        let err = item_overview(&archive, "tapes/reel-1", 100).unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
    }

    #[test]
    fn an_archived_item_is_drawn_from_its_master() {
        let root = tempfile::tempdir().unwrap();
        let archive = Archive::new(root.path());
        demo_item(&archive);
        let waves = item_overview(&archive, "tapes/reel-1", 400).unwrap();
        assert_eq!(waves.len(), 1);
        let w = &waves[0];
        assert_eq!((w.sample_rate, w.channels.len()), (96_000, 2));
        assert_eq!(w.channels[0].len(), 400);
        // The demo tape clips at 12 s: some bucket there reaches full scale.
        let clip = (12.0 * 96_000.0 / w.frames_per_bucket as f64) as usize;
        let peak = w.channels[0][clip.saturating_sub(2)..clip + 3]
            .iter()
            .map(|[lo, hi]| hi.max(-lo))
            .fold(0.0f32, f32::max);
        assert!(peak > 0.99, "peak near 12 s: {peak}");
        // A damaged master is an error naming the item and the damage, not a picture.
        let master = root.path().join("tapes/reel-1/data/reel-1_pm.flac");
        let mut bytes = std::fs::read(&master).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0xFF;
        std::fs::write(&master, bytes).unwrap();
        let err = item_overview(&archive, "tapes/reel-1", 400).unwrap_err();
        assert!(matches!(err, ItemError::Master { .. }), "{err}");
        assert!(err.to_string().starts_with("item tapes/reel-1: "), "{err}");
        assert!(matches!(
            item_overview(&archive, "../reel-1", 400),
            Err(ItemError::Unknown { .. })
        ));
    }

    #[test]
    fn names_that_are_not_items_are_refused_without_touching_a_path() {
        let root = tempfile::tempdir().unwrap();
        let archive = Archive::new(root.path());
        demo_item(&archive);
        for name in ["nope", "tapes/../../etc", "../reel-1", "/etc/passwd", ""] {
            assert!(
                matches!(item_view(&archive, name), Err(ItemError::Unknown { .. })),
                "{name}"
            );
        }
    }
}
