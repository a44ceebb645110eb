//! One archived item as a person looks at it (the station app's item detail): what its bag
//! says (`bag-info.txt`), the archival metadata of its masters (their Vorbis comments), its
//! files with their digests and last checks, its history, and its QC report.
//!
//! The item is named as `capstan log` names it (`collection/id`, or a bare id when only one
//! collection has it) and resolved through the catalogue; its collection and id are held to
//! the identifier rules before any path is made of them, so no name can reach outside the
//! archive. Files are opened without following symbolic links.

use crate::archive::events::Event;
use crate::archive::Archive;
use crate::catalogue::{Catalogue, CatalogueError, FileRow};
use crate::metadata::{check_identifier, MetadataError};
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
}

/// An item, for its detail view.
#[derive(Debug, Clone, Serialize)]
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
    /// The QC report (`data/<id>.qc.json`) as written.
    pub qc: Option<serde_json::Value>,
    /// What could not be read, each with its reason (the view shows the rest).
    pub unreadable: Vec<String>,
}

/// Reads a file of the bag, refusing links and anything larger than [`MAX_TAG_FILE`].
fn read_small(path: &Path) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
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

/// The item `name` of `archive`.
pub fn item_view(archive: &Archive, name: &str) -> Result<ItemView, ItemError> {
    let cat = Catalogue::open(archive)?;
    let item = cat.resolve_item(name)?.ok_or_else(|| ItemError::Unknown {
        name: name.to_string(),
    })?;
    let (collection, id) = item.split_once('/').ok_or_else(|| ItemError::Unknown {
        name: name.to_string(),
    })?;
    check_identifier("collection", collection)?;
    check_identifier("id", id)?;
    let bag = archive.item_dir(collection, id);
    let files = cat.files_of(&item)?;
    let history = cat.history(Some(&item))?;
    let mut unreadable = Vec::new();
    let bag_info = match read_small(&bag.join("bag-info.txt")) {
        Ok(bytes) => crate::archive::bag::parse_bag_info(&bytes).0,
        Err(e) => {
            unreadable.push(e);
            Vec::new()
        }
    };
    let qc_path = bag.join("data").join(format!("{id}.qc.json"));
    let qc = match read_small(&qc_path)
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", qc_path.display())))
    {
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
        match crate::flac::tags::vorbis_comments(&bag.join(&f.path)) {
            Ok(t) => tags.push((f.path.clone(), t)),
            Err(e) => unreadable.push(e.to_string()),
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
        assert_eq!(v.qc.as_ref().unwrap()["item"], "reel-1");
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
