//! The archive folder: where items arrive, whole or not at all.
//!
//! An item is assembled as a bag in `ARCHIVE/.capstan/staging/`, every file and folder fsynced,
//! and moved into `ARCHIVE/<collection>/<item-id>/` with one atomic rename that refuses to
//! replace anything already there (Linux `renameat2(RENAME_NOREPLACE)`). A staging folder is
//! owned by the process that holds the lock on its `.lock` file; one whose owner died (crash,
//! kill, power cut) is removed by the next process that opens the archive for writing, so a
//! failure never leaves a partial item in the archive nor, after the next run, in staging.

pub mod bag;
pub mod events;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Why the archive could not take an item.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
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
}

/// Whether an I/O error means the disk or the user's quota is full (the operator frees space).
pub fn out_of_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

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

    /// Creates the archive's folders if needed and removes staging folders whose owner is gone.
    pub fn prepare_for_writing(&self) -> Result<(), ArchiveError> {
        let staging = self.staging_dir();
        fs::create_dir_all(&staging).map_err(|source| ArchiveError::Unwritable {
            path: self.root.clone(),
            source,
        })?;
        self.remove_abandoned_staging()
    }

    /// Removes every staging folder whose lock no live process holds.
    pub fn remove_abandoned_staging(&self) -> Result<(), ArchiveError> {
        let staging = self.staging_dir();
        let entries = match fs::read_dir(&staging) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_at(&staging)(e)),
        };
        let mut stems = std::collections::BTreeSet::new();
        for entry in entries {
            let path = entry.map_err(io_at(&staging))?.path();
            // Names hold dots (ids, pid, time), so the lock is the name plus ".lock", not an
            // extension swap.
            let name = path.as_os_str().to_string_lossy();
            stems.insert(match name.strip_suffix(".lock") {
                Some(stem) => PathBuf::from(stem),
                None => path.clone(),
            });
        }
        for path in stems {
            let lock_path = lock_path_of(&path);
            // Creating the lock file when it is missing is harmless: an owner always creates and
            // locks its lock file before its folder, so a folder without one has no owner.
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io_at(&lock_path))?;
            if lock.try_lock().is_ok() {
                let removed = match path.symlink_metadata() {
                    Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
                    Ok(_) => fs::remove_file(&path),
                    Err(_) => Ok(()), // a lone lock file: its owner died before its folder existed
                };
                removed.map_err(io_at(&path))?;
                fs::remove_file(&lock_path).map_err(io_at(&lock_path))?;
            }
        }
        Ok(())
    }

    /// Starts assembling item `collection/id` in staging. Refuses at once if the item exists.
    pub fn begin(&self, collection: &str, id: &str) -> Result<Staging, ArchiveError> {
        let target = self.item_dir(collection, id);
        if target.symlink_metadata().is_ok() {
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
        let dir = self.staging_dir().join(&stem);
        let lock_path = lock_path_of(&dir);
        let unwritable = |source| ArchiveError::Unwritable {
            path: self.root.clone(),
            source,
        };
        let lock = File::options()
            .create_new(true)
            .write(true)
            .open(&lock_path)
            .map_err(unwritable)?;
        lock.lock().map_err(io_at(&lock_path))?;
        let staging = Staging {
            dir,
            lock_path,
            _lock: lock,
            committed: false,
        };
        fs::create_dir_all(staging.dir.join("data")).map_err(unwritable)?;
        Ok(staging)
    }
}

/// A bag being assembled. Dropped without [`Staging::commit`], it removes itself.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    lock_path: PathBuf,
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
        let created = !collection_dir.exists();
        fs::create_dir_all(&collection_dir).map_err(io_at(&collection_dir))?;
        if created {
            sync_dir(&archive.root)?;
        }
        let target = collection_dir.join(id);
        rename_no_replace(&self.dir, &target).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                ArchiveError::ItemExists {
                    collection: collection.into(),
                    id: id.into(),
                    path: target.clone(),
                }
            } else {
                ArchiveError::Io {
                    path: target.clone(),
                    source,
                }
            }
        })?;
        self.committed = true;
        sync_dir(&collection_dir)?;
        sync_dir(&archive.staging_dir())?;
        let _ = fs::remove_file(&self.lock_path);
        Ok(target)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
            let _ = fs::remove_file(&self.lock_path);
        }
    }
}

/// The lock file that guards staging folder `dir`.
fn lock_path_of(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
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
        let dead = archive.staging_dir().join("c__dead.1.1");
        fs::create_dir_all(dead.join("data")).unwrap();
        fs::write(archive.staging_dir().join("c__dead.1.1.lock"), b"").unwrap();
        // Another died before creating its folder: only its lock file is left.
        fs::write(archive.staging_dir().join("c__early.2.2.lock"), b"").unwrap();
        let live = archive.begin("c", "live").unwrap();
        archive.prepare_for_writing().unwrap();
        assert!(!dead.exists());
        assert!(live.bag_dir().exists());
        // Only the live item's folder and lock file remain.
        assert_eq!(fs::read_dir(archive.staging_dir()).unwrap().count(), 2);
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
