//! The archive folder: where items arrive, whole or not at all.
//!
//! An item is assembled as a bag in `ARCHIVE/.capstan/staging/`, every file and folder fsynced,
//! and moved into `ARCHIVE/<collection>/<item-id>/` with one atomic rename that refuses to
//! replace anything already there (Linux `renameat2(RENAME_NOREPLACE)`). A staging folder is
//! owned by the process that holds the lock on its `.lock` file; one whose owner died (crash,
//! kill, power cut) is removed by the next process that opens the archive for writing, so a
//! failure never leaves a partial item in the archive nor, after the next run, in staging.
//!
//! Everything under the archive's root is reached through [`confined`]: a `.capstan`, a
//! staging or journal folder, a collection or an item that is a symbolic link, a FIFO or a
//! file is refused with [`ArchiveError::Confined`], never followed, opened or removed through.

pub mod bag;
pub mod confined;
pub mod events;
pub mod item_id;
pub mod premis;
pub mod settings;

use confined::{Access, Dir};

use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why the archive could not take an item.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {detail}")]
    Settings { path: PathBuf, detail: String },
    #[error("item {collection}/{id} already exists at {path}; an existing item is never replaced")]
    ItemExists {
        collection: String,
        id: String,
        path: PathBuf,
    },
    #[error("archive {path} is not writable: {source}")]
    Unwritable { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Something under the archive is not what Capstan made there (a link, a FIFO, a file
    /// where a folder belongs): refused, nothing done through it.
    #[error("{path} is {refusal}; the archive is not as Capstan made it, so nothing was done there: look at it and move it aside")]
    Confined { path: PathBuf, refusal: String },
}

impl ArchiveError {
    /// The error for `path` from an operation of [`confined`]: a refusal, or plain I/O.
    pub fn at(path: &Path, source: io::Error) -> ArchiveError {
        match confined::refusal(&source) {
            Some(r) => ArchiveError::Confined {
                path: path.to_path_buf(),
                refusal: r.to_string(),
            },
            None => ArchiveError::Io {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// Whether an I/O error means the disk or the user's quota is full (the operator frees space).
pub fn out_of_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::at(path, source)
}

/// The names Capstan keeps in `.capstan`, each with the kind it must be if it exists.
const META_NAMES: [(&str, confined::Kind); 11] = [
    ("staging", confined::Kind::Dir),
    ("journal", confined::Kind::Dir),
    ("pending", confined::Kind::Dir),
    ("events.jsonl", confined::Kind::File),
    ("catalogue.sqlite", confined::Kind::File),
    ("catalogue.sqlite-wal", confined::Kind::File),
    ("catalogue.sqlite-shm", confined::Kind::File),
    ("catalogue.sqlite-journal", confined::Kind::File),
    ("catalogue.lock", confined::Kind::File),
    ("catalogue.sqlite.reindex", confined::Kind::File),
    (settings::FILE, confined::Kind::File),
];

/// An archive folder.
#[derive(Debug, Clone)]
pub struct Archive {
    pub root: PathBuf,
}

impl Archive {
    pub fn new(root: impl Into<PathBuf>) -> Archive {
        Archive { root: root.into() }
    }

    /// `ARCHIVE/.capstan`
    pub fn meta_dir(&self) -> PathBuf {
        self.root.join(".capstan")
    }

    pub fn staging_dir(&self) -> PathBuf {
        self.meta_dir().join("staging")
    }

    /// Where an item lives once committed.
    pub fn item_dir(&self, collection: &str, id: &str) -> PathBuf {
        self.root.join(collection).join(id)
    }

    /// The archive's root folder, opened (the one path trusted as given).
    pub fn root_dir(&self) -> Result<Dir, ArchiveError> {
        Dir::open_root(&self.root).map_err(io_at(&self.root))
    }

    /// `.capstan`, opened without following a link; created if `create` and missing.
    pub fn meta(&self, create: bool) -> Result<Option<Dir>, ArchiveError> {
        let root = self.root_dir()?;
        let meta = self.meta_dir();
        let rel = Path::new(".capstan");
        if create {
            return root.create_dir_all(rel).map(Some).map_err(io_at(&meta));
        }
        match root.open_dir(rel) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ArchiveError::at(&meta, e)),
        }
    }

    /// Refuses an archive whose own folders and files (`.capstan`, its staging and journal
    /// folders, `events.jsonl`, the catalogue) are not what Capstan made there: a link, a
    /// FIFO, a folder where a file belongs. Every command that opens an archive calls this
    /// first, so none of them reads, writes or removes anything through such a thing.
    pub fn check_confined(&self) -> Result<(), ArchiveError> {
        let Some(meta) = self.meta(false)? else {
            return Ok(());
        };
        for (name, want) in META_NAMES {
            let path = self.meta_dir().join(name);
            match meta.kind_of(Path::new(name)).map_err(io_at(&path))? {
                Some(found) if found != want => {
                    return Err(ArchiveError::Confined {
                        path,
                        refusal: confined::Refusal {
                            found: found.describe(),
                            expected: want.describe(),
                        }
                        .to_string(),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `.capstan/<name>`, a folder, opened without following a link (created if missing).
    pub fn meta_subdir(&self, name: &str) -> Result<Dir, ArchiveError> {
        self.check_confined()?;
        let path = self.meta_dir().join(name);
        let root = self.root_dir()?;
        root.create_dir_all(&Path::new(".capstan").join(name))
            .map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                    ArchiveError::Unwritable {
                        path: self.root.clone(),
                        source: e,
                    }
                }
                _ => ArchiveError::at(&path, e),
            })
    }

    /// Opens `.capstan/<name>`, a file, without following a link and only if it is a regular
    /// file (see [`confined::Dir::open_file`]).
    pub fn open_meta_file(&self, name: &str, access: Access) -> Result<File, ArchiveError> {
        let path = self.meta_dir().join(name);
        let meta = self
            .meta(access != Access::Read)?
            .ok_or_else(|| ArchiveError::Io {
                path: path.clone(),
                source: io::Error::from(io::ErrorKind::NotFound),
            })?;
        meta.open_file(Path::new(name), access)
            .map_err(io_at(&path))
    }

    /// Creates the archive's folders if needed and removes staging folders whose owner is gone.
    pub fn prepare_for_writing(&self) -> Result<(), ArchiveError> {
        // The root is the operator's path, trusted as given; made if it is not there yet.
        fs::create_dir_all(&self.root).map_err(|source| ArchiveError::Unwritable {
            path: self.root.clone(),
            source,
        })?;
        self.staging()?;
        self.remove_abandoned_staging()
    }

    /// `.capstan/staging`, opened (and created if missing) without following a link.
    fn staging(&self) -> Result<Dir, ArchiveError> {
        self.meta_subdir("staging")
    }

    /// Removes every staging folder whose lock no live process holds. Removal goes through
    /// the staging folder's descriptor and never follows a link: a staging folder that is a
    /// link is refused, and a link inside it is removed, not what it points to.
    pub fn remove_abandoned_staging(&self) -> Result<(), ArchiveError> {
        let staging_path = self.staging_dir();
        let staging = match self.meta(false)? {
            None => return Ok(()),
            Some(meta) => match meta.open_dir(Path::new("staging")) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(ArchiveError::at(&staging_path, e)),
            },
        };
        let entries = staging.entries().map_err(io_at(&staging_path))?;
        let mut stems = std::collections::BTreeSet::new();
        for (name, _) in entries {
            // Names hold dots (ids, pid, time), so the lock is the name plus ".lock", not an
            // extension swap.
            let bytes = name.as_encoded_bytes();
            stems.insert(match bytes.strip_suffix(b".lock") {
                Some(stem) => std::ffi::OsStr::from_bytes(stem).to_os_string(),
                None => name.clone(),
            });
        }
        for stem in stems {
            let lock_name = lock_name_of(&stem);
            let lock_path = staging_path.join(&lock_name);
            let (lock, ownerless) =
                match staging.open_file(Path::new(&lock_name), Access::ReadWrite) {
                    Ok(f) => (f, false),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // Committed (or removed) since the listing: nothing is left to clean.
                        if staging
                            .kind_of(Path::new(&stem))
                            .map_err(io_at(&staging_path))?
                            .is_none()
                        {
                            continue;
                        }
                        // An owner creates and locks its lock file before its folder and removes
                        // it last, so a folder without one has no owner. The lock file is made
                        // again so that two cleaners take turns.
                        let f = staging
                            .open_file(Path::new(&lock_name), Access::ReadWriteCreate)
                            .map_err(io_at(&lock_path))?;
                        (f, true)
                    }
                    Err(e) => return Err(ArchiveError::at(&lock_path, e)),
                };
            // Locked only after it is created: one seen unlocked may be in that instant, so its
            // owner (named in the folder's name) is asked after first.
            if lock.try_lock().is_ok() && (ownerless || !owner_alive(&stem, 1)) {
                let path = staging_path.join(&stem);
                // A lone lock file: its owner died before its folder existed.
                staging.remove_tree(&stem).map_err(io_at(&path))?;
                staging.remove_file(&lock_name).map_err(io_at(&lock_path))?;
            }
        }
        Ok(())
    }

    /// Starts assembling item `collection/id` in staging. Refuses at once if the item exists.
    pub fn begin(&self, collection: &str, id: &str) -> Result<Staging, ArchiveError> {
        let target = self.item_dir(collection, id);
        let root = self.root_dir()?;
        if root
            .kind_of(&Path::new(collection).join(id))
            .map_err(io_at(&target))?
            .is_some()
        {
            return Err(ArchiveError::ItemExists {
                collection: collection.into(),
                id: id.into(),
                path: target,
            });
        }
        let stem = format!(
            "{collection}__{id}.{}.{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let staging = self.staging()?;
        let dir = self.staging_dir().join(&stem);
        let lock_name = lock_name_of(std::ffi::OsStr::new(&stem));
        let lock_path = self.staging_dir().join(&lock_name);
        let unwritable = |source: io::Error| match confined::refusal(&source) {
            Some(_) => ArchiveError::at(&dir, source),
            None => ArchiveError::Unwritable {
                path: self.root.clone(),
                source,
            },
        };
        let lock = staging
            .open_file(Path::new(&lock_name), Access::CreateNew)
            .map_err(unwritable)?;
        lock.lock().map_err(io_at(&lock_path))?;
        let staged = Staging {
            dir: dir.clone(),
            stem: stem.clone().into(),
            lock_name,
            staging,
            _lock: lock,
            committed: false,
        };
        staged
            .staging
            .create_dir_all(&Path::new(&stem).join("data"))
            .map_err(unwritable)?;
        Ok(staged)
    }
}

/// A bag being assembled. Dropped without [`Staging::commit`], it removes itself.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    /// The bag's name in `.capstan/staging`, and its lock file's.
    stem: std::ffi::OsString,
    lock_name: std::ffi::OsString,
    /// `.capstan/staging`, held open: removal and the commit's rename go through it.
    staging: Dir,
    _lock: File,
    committed: bool,
}

impl Staging {
    /// The bag's root folder in staging.
    pub fn bag_dir(&self) -> &Path {
        &self.dir
    }

    /// The bag's payload folder.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Syncs every file and folder of the bag, then moves it to `collection/id` in one rename
    /// that never replaces an existing item, and syncs the folders the rename changed.
    pub fn commit(
        mut self,
        archive: &Archive,
        collection: &str,
        id: &str,
    ) -> Result<PathBuf, ArchiveError> {
        sync_tree(&self.dir)?;
        let collection_dir = archive.root.join(collection);
        let root = archive.root_dir()?;
        let created = root
            .kind_of(Path::new(collection))
            .map_err(io_at(&collection_dir))?
            .is_none();
        let collection_fd = root
            .create_dir_all(Path::new(collection))
            .map_err(io_at(&collection_dir))?;
        if created {
            root.sync().map_err(io_at(&archive.root))?;
        }
        let target = collection_dir.join(id);
        let renamed =
            self.staging
                .rename_no_replace(&self.stem, &collection_fd, std::ffi::OsStr::new(id));
        renamed.map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                ArchiveError::ItemExists {
                    collection: collection.into(),
                    id: id.into(),
                    path: target.clone(),
                }
            } else {
                ArchiveError::at(&target, source)
            }
        })?;
        self.committed = true;
        collection_fd.sync().map_err(io_at(&collection_dir))?;
        self.staging.sync().map_err(io_at(&archive.staging_dir()))?;
        let _ = self.staging.remove_file(&self.lock_name);
        Ok(target)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.staging.remove_tree(&self.stem);
            let _ = self.staging.remove_file(&self.lock_name);
        }
    }
}

/// The lock file that guards staging folder `stem`.
/// Whether the process whose number is the `from_end`-th dot-separated part of `name`, counting
/// from 0 at the end (`c__id.PID.NANOS`: 1), is this one or still running. Staging folders and
/// pending records are locked only after they are created; one seen unlocked may be in that
/// instant, with its owner (another thread of this process, as in `ingest-batch`, or another
/// process) alive. A dead owner's number reused by another process only delays the clean-up.
pub(crate) fn owner_alive(name: &std::ffi::OsStr, from_end: usize) -> bool {
    let name = name.to_string_lossy();
    match name
        .rsplit('.')
        .nth(from_end)
        .and_then(|p| p.parse::<u32>().ok())
    {
        Some(pid) if pid == std::process::id() => true,
        Some(pid) => Path::new(&format!("/proc/{pid}")).exists(),
        None => false,
    }
}

fn lock_name_of(stem: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut name = stem.to_os_string();
    name.push(".lock");
    name
}

/// fsyncs a folder, so that the names in it (new files, renames) survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

/// fsyncs every file and folder below `dir`, and `dir` itself.
pub fn sync_tree(dir: &Path) -> Result<(), ArchiveError> {
    for entry in fs::read_dir(dir).map_err(io_at(dir))? {
        let path = entry.map_err(io_at(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_at(&path))?;
        }
    }
    sync_dir(dir)
}

/// Renames `from` to `to`, failing with `AlreadyExists` if `to` exists (even as an empty folder,
/// which a plain rename(2) would silently replace).
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths; renameat2 only reads them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) || err.raw_os_error() == Some(libc::ENOSYS) {
        // A filesystem without RENAME_NOREPLACE: check, then rename. The window between the two
        // is closed in practice by the per-item staging check; documented as a limit.
        if to.symlink_metadata().is_ok() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        return fs::rename(from, to);
    }
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_staging_removes_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        archive.prepare_for_writing().unwrap();
        let st = archive.begin("c", "i").unwrap();
        let dir = st.bag_dir().to_path_buf();
        fs::write(st.data_dir().join("x"), b"x").unwrap();
        drop(st);
        assert!(!dir.exists());
        assert_eq!(fs::read_dir(archive.staging_dir()).unwrap().count(), 0);
    }

    #[test]
    fn abandoned_staging_is_removed_but_live_staging_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        archive.prepare_for_writing().unwrap();
        // A crashed process: its folder and an unlocked lock file remain.
        let dead = archive.staging_dir().join("c__dead.4294967295.1");
        fs::create_dir_all(dead.join("data")).unwrap();
        fs::write(archive.staging_dir().join("c__dead.4294967295.1.lock"), b"").unwrap();
        // Another died before creating its folder: only its lock file is left.
        fs::write(
            archive.staging_dir().join("c__early.4294967294.2.lock"),
            b"",
        )
        .unwrap();
        let live = archive.begin("c", "live").unwrap();
        archive.prepare_for_writing().unwrap();
        assert!(!dead.exists());
        assert!(live.bag_dir().exists());
        // Only the live item's folder and lock file remain.
        assert_eq!(fs::read_dir(archive.staging_dir()).unwrap().count(), 2);
    }

    #[test]
    fn an_unlocked_staging_folder_of_a_living_owner_is_kept() {
        // The instant between an owner creating its lock file and locking it: another thread
        // of the same process (ingest-batch) must not take the folder for abandoned.
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        archive.prepare_for_writing().unwrap();
        let mine = format!("c__mine.{}.7", std::process::id());
        fs::create_dir_all(archive.staging_dir().join(&mine).join("data")).unwrap();
        fs::write(archive.staging_dir().join(format!("{mine}.lock")), b"").unwrap();
        archive.prepare_for_writing().unwrap();
        assert!(archive.staging_dir().join(&mine).exists());
        assert!(owner_alive(std::ffi::OsStr::new(&mine), 1));
        assert!(!owner_alive(std::ffi::OsStr::new("c__x.4294967295.1"), 1));
        assert!(!owner_alive(std::ffi::OsStr::new("no-number"), 1));
    }

    #[test]
    fn a_link_left_in_staging_is_removed_and_what_it_points_to_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"keep").unwrap();
        let archive = Archive::new(tmp.path());
        archive.prepare_for_writing().unwrap();
        // An abandoned "staging folder" that is a link to a folder outside, and one holding a
        // link to it.
        std::os::unix::fs::symlink(
            outside.path(),
            archive.staging_dir().join("c__a.4294967295.1"),
        )
        .unwrap();
        let inner = archive.staging_dir().join("c__b.4294967294.2/data");
        fs::create_dir_all(&inner).unwrap();
        std::os::unix::fs::symlink(outside.path(), inner.join("link")).unwrap();
        archive.prepare_for_writing().unwrap();
        assert_eq!(fs::read_dir(archive.staging_dir()).unwrap().count(), 0);
        assert_eq!(fs::read(outside.path().join("keep")).unwrap(), b"keep");
    }

    #[test]
    fn commit_never_replaces_an_existing_item_even_an_empty_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        archive.prepare_for_writing().unwrap();
        let st = archive.begin("c", "i").unwrap();
        // Someone else creates the item between begin and commit.
        fs::create_dir_all(archive.item_dir("c", "i")).unwrap();
        let err = st.commit(&archive, "c", "i").unwrap_err();
        assert!(matches!(err, ArchiveError::ItemExists { .. }), "{err}");
        assert_eq!(fs::read_dir(archive.item_dir("c", "i")).unwrap().count(), 0);
        assert_eq!(fs::read_dir(archive.staging_dir()).unwrap().count(), 0);
        assert!(matches!(
            archive.begin("c", "i").unwrap_err(),
            ArchiveError::ItemExists { .. }
        ));
    }

    #[test]
    fn commit_moves_the_bag_into_place() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        archive.prepare_for_writing().unwrap();
        let st = archive.begin("c", "i").unwrap();
        fs::write(st.data_dir().join("x"), b"x").unwrap();
        let at = st.commit(&archive, "c", "i").unwrap();
        assert_eq!(fs::read(at.join("data/x")).unwrap(), b"x");
        assert_eq!(fs::read_dir(archive.staging_dir()).unwrap().count(), 0);
    }
}
