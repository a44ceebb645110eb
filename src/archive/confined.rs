//! The archive as a confined tree: the one way Capstan opens, creates, renames and removes
//! anything under an archive.
//!
//! What is trusted: the archive's root, as the operator names it (a link in the path *to* the
//! root is the operator's business and is followed once, when the root is opened). What is not:
//! everything below it, which anyone with write access to the archive (a careless copy, a
//! restore from another system, a hostile user) may have replaced by a symbolic link, a FIFO, a
//! device or a folder.
//!
//! What [`Dir`] promises:
//! - every path is resolved relative to an open folder descriptor, never through a symbolic
//!   link and never above that folder (Linux `openat2` with `RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS`; where the kernel lacks `openat2`, a walk that opens each component
//!   with `O_NOFOLLOW` relative to the one before and refuses `..`);
//! - a file opened for reading is opened with `O_NONBLOCK` and checked with `fstat` to be a
//!   regular file before one byte is read, so a FIFO or a device in a file's place is refused
//!   instead of blocking or being read; a file opened for writing is checked the same way;
//! - removal goes through folder descriptors (`unlinkat` on the entries of a folder opened
//!   `O_NOFOLLOW | O_DIRECTORY`), so removing a tree removes that tree and nothing a link in it
//!   points to; renames are `renameat2(RENAME_NOREPLACE)` between two open folders.
//!
//! A refusal is an [`io::Error`] whose message says what was found ("a symbolic link, never
//! followed inside an archive"); [`refusal`] tells it from an ordinary I/O error, so callers
//! can say "the archive is not as Capstan made it" rather than "permission denied".
//!
//! `cap-std` does the same job and more; it is not used because these few calls on `libc`
//! (already a dependency) are all Capstan needs, and Capstan targets Linux only.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a name in a folder is, seen without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    /// A device, a socket: anything Capstan never reads.
    Other,
}

impl Kind {
    fn of_mode(mode: libc::mode_t) -> Kind {
        match mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFIFO => Kind::Fifo,
            _ => Kind::Other,
        }
    }

    /// As a person would say it ("a symbolic link").
    pub fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a folder",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a FIFO",
            Kind::Other => "a device or socket",
        }
    }
}

/// Why a path was refused: what was found where something else was expected.
#[derive(Debug)]
pub struct Refusal {
    pub found: &'static str,
    pub expected: &'static str,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.found.starts_with(Kind::Symlink.describe()) {
            write!(f, "{}, never followed inside an archive", self.found)
        } else {
            write!(f, "{}, not {}", self.found, self.expected)
        }
    }
}

impl std::error::Error for Refusal {}

/// What ELOOP means: the name, or a folder on the way to it, is a link (the kernel does not say
/// which).
const THROUGH_A_LINK: &str = "a symbolic link (or a path through one)";

fn refused(found: &'static str, expected: &'static str) -> io::Error {
    io::Error::other(Refusal { found, expected })
}

/// The refusal inside an error from this module, if it is one (not an ordinary I/O error).
pub fn refusal(e: &io::Error) -> Option<&Refusal> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Refusal>())
}

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read an existing regular file.
    Read,
    /// Append, creating the file if needed.
    Append,
    /// Append and read (to see how the file ends), creating it if needed.
    ReadAppend,
    /// Create a file that must not exist yet, for writing.
    CreateNew,
    /// Read and write, creating the file if needed (lock files).
    ReadWriteCreate,
    /// Read and write an existing file.
    ReadWrite,
}

/// An open folder under (or at) an archive's root; every path given to it is relative to it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
}

/// The path's components, each a plain name: absolute paths and `..` never resolve inside an
/// archive.
fn names(rel: &Path) -> io::Result<Vec<&OsStr>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} leaves the archive", rel.display()),
                ))
            }
        }
    }
    Ok(out)
}

/// Set once the kernel has said it has no `openat2` (or a sandbox forbids it).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// `openat2(dir, rel, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, or the `O_NOFOLLOW` walk.
fn open_beneath(
    dir: RawFd,
    rel: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let parts = names(rel)?;
    let flags = flags | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    if parts.is_empty() {
        // The folder itself, reopened (a fresh descriptor with its own flags).
        let dot = c".";
        return openat(dir, dot, flags, mode);
    }
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let joined: OsString = {
            let mut v: Vec<u8> = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    v.push(b'/');
                }
                v.extend_from_slice(p.as_bytes());
            }
            OsString::from_vec(v)
        };
        let c = cstr(&joined)?;
        // SAFETY: open_how is plain data (libc marks it non-exhaustive); zero is its default.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = flags as u64;
        how.mode = if flags & libc::O_CREAT != 0 {
            mode as u64
        } else {
            0
        };
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
        // SAFETY: a valid descriptor, a NUL-terminated path and an open_how of the size given;
        // the kernel only reads them.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if rc >= 0 {
            // SAFETY: the kernel returned a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) });
        }
        let e = last_error();
        if !how_unsupported(&e) {
            return Err(e);
        }
        NO_OPENAT2.store(true, Ordering::Relaxed);
    }
    walk(dir, &parts, flags, mode)
}

/// The fallback for kernels without `openat2`: each folder opened without following a link,
/// relative to the one before, then the last name with `flags` (which hold `O_NOFOLLOW`).
/// `parts` are plain names (see [`names`]), never `..`.
fn walk(
    dir: RawFd,
    parts: &[&OsStr],
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let Some((last, folders)) = parts.split_last() else {
        return openat(dir, c".", flags, mode);
    };
    let mut at: Option<OwnedFd> = None;
    for name in folders {
        let base = at.as_ref().map_or(dir, |f| f.as_raw_fd());
        let c = cstr(name)?;
        let next = openat(
            base,
            &c,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0,
        )
        .map_err(|e| {
            // O_DIRECTORY answers ENOTDIR for a link; say ELOOP, as openat2 does.
            // SAFETY: stat is plain data; fstatat fills it on success.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let rc = unsafe { libc::fstatat(base, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
            if rc == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                io::Error::from_raw_os_error(libc::ELOOP)
            } else {
                e
            }
        })?;
        at = Some(next);
    }
    let base = at.as_ref().map_or(dir, |f| f.as_raw_fd());
    openat(base, &cstr(last)?, flags, mode)
}

/// Whether an ENOSYS/EPERM from `openat2` means the call itself is unavailable (a seccomp
/// sandbox answers EPERM for calls it does not know), not a refusal of this path.
fn how_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM))
}

fn openat(dir: RawFd, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: a valid descriptor and a NUL-terminated name.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, mode as libc::c_uint) };
        if fd >= 0 {
            // SAFETY: a new descriptor nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = last_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data; fstat fills it on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(last_error());
    }
    Ok(st)
}

/// Turns the kernel's answers for "a link was in the way" and "not a folder" into refusals.
fn explain(e: io::Error, expected: &'static str) -> io::Error {
    match e.raw_os_error() {
        // RESOLVE_NO_SYMLINKS and O_NOFOLLOW both answer ELOOP for a link.
        Some(libc::ELOOP) => refused(THROUGH_A_LINK, expected),
        // RESOLVE_BENEATH: a path that would leave the folder.
        Some(libc::EXDEV) => refused("a path leaving the archive", expected),
        // O_WRONLY|O_NONBLOCK on a FIFO with no reader.
        Some(libc::ENXIO) => refused(Kind::Fifo.describe(), expected),
        _ => e,
    }
}

impl Dir {
    /// Opens an archive's root (the one path trusted as given).
    pub fn open_root(path: &Path) -> io::Result<Dir> {
        let c = cstr(path.as_os_str())?;
        let fd = openat(
            libc::AT_FDCWD,
            &c,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOTDIR) {
                refused("not a folder", "a folder")
            } else {
                e
            }
        })?;
        Ok(Dir { fd })
    }

    /// Opens folder `rel` below this one, never through a link. A FIFO or a file there is
    /// refused without being opened for reading (`O_DIRECTORY` fails on it before any read).
    pub fn open_dir(&self, rel: &Path) -> io::Result<Dir> {
        let fd = open_beneath(
            self.fd.as_raw_fd(),
            rel,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NONBLOCK,
            0,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR) => {
                let found = self
                    .kind_of(rel)
                    .ok()
                    .flatten()
                    .map_or("not a folder", Kind::describe);
                refused(found, "a folder")
            }
            _ => explain(e, "a folder"),
        })?;
        Ok(Dir { fd })
    }

    /// Opens folder `rel`, creating it and any missing folder on the way (mode 0777 less the
    /// umask), never through a link.
    pub fn create_dir_all(&self, rel: &Path) -> io::Result<Dir> {
        let mut at = self.open_dir(Path::new("."))?;
        for name in names(rel)? {
            let c = cstr(name)?;
            // SAFETY: a valid descriptor and a NUL-terminated name.
            let rc = unsafe { libc::mkdirat(at.fd.as_raw_fd(), c.as_ptr(), 0o777) };
            if rc != 0 {
                let e = last_error();
                if e.kind() != io::ErrorKind::AlreadyExists {
                    return Err(e);
                }
            }
            at = at.open_dir(Path::new(name))?;
        }
        Ok(at)
    }

    /// Opens file `rel` below this folder, never through a link, and only if it is a regular
    /// file: it is opened `O_NONBLOCK` and `fstat`ed before it is used, so a FIFO or a device in
    /// its place is refused without blocking and without a byte read or written.
    pub fn open_file(&self, rel: &Path, access: Access) -> io::Result<File> {
        let flags = match access {
            Access::Read => libc::O_RDONLY,
            Access::Append => libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT,
            Access::ReadAppend => libc::O_RDWR | libc::O_APPEND | libc::O_CREAT,
            Access::CreateNew => libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
            Access::ReadWriteCreate => libc::O_RDWR | libc::O_CREAT,
            Access::ReadWrite => libc::O_RDWR,
        };
        let fd = open_beneath(self.fd.as_raw_fd(), rel, flags | libc::O_NONBLOCK, 0o666).map_err(
            |e| match e.raw_os_error() {
                Some(libc::EISDIR) => refused(Kind::Dir.describe(), "a regular file"),
                _ => explain(e, "a regular file"),
            },
        )?;
        regular_file(fd)
    }

    /// What `rel` is, seen without following it; None if nothing is there. The folders on the
    /// way are opened without following links.
    pub fn kind_of(&self, rel: &Path) -> io::Result<Option<Kind>> {
        let parts = names(rel)?;
        let Some((last, folders)) = parts.split_last() else {
            return Ok(Some(Kind::Dir));
        };
        let parent;
        let base = if folders.is_empty() {
            self.fd.as_raw_fd()
        } else {
            let p: std::path::PathBuf = folders.iter().collect();
            parent = match self.open_dir(&p) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            parent.fd.as_raw_fd()
        };
        let c = cstr(last)?;
        // SAFETY: stat is plain data; fstatat fills it on success.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::fstatat(base, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        if rc != 0 {
            let e = last_error();
            return if e.kind() == io::ErrorKind::NotFound {
                Ok(None)
            } else {
                Err(e)
            };
        }
        Ok(Some(Kind::of_mode(st.st_mode)))
    }

    /// The names in this folder (not `.` and `..`), each with its kind seen without following
    /// it, in no particular order.
    pub fn entries(&self) -> io::Result<Vec<(OsString, Kind)>> {
        let own = self.open_dir(Path::new("."))?;
        let raw = own.fd.as_raw_fd();
        // SAFETY: fdopendir takes ownership of the descriptor on success (closed by closedir).
        let dirp = unsafe { libc::fdopendir(raw) };
        if dirp.is_null() {
            return Err(last_error());
        }
        std::mem::forget(own);
        let mut out = Vec::new();
        let result = loop {
            // SAFETY: errno is reset so that end-of-folder is told from an error.
            unsafe { *libc::__errno_location() = 0 };
            let ent = unsafe { libc::readdir(dirp) };
            if ent.is_null() {
                let e = last_error();
                break if e.raw_os_error().unwrap_or(0) == 0 {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            // SAFETY: readdir returned a valid entry whose name is NUL-terminated.
            let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let name = OsStr::from_bytes(bytes).to_os_string();
            // d_type may be DT_UNKNOWN on some file systems: ask without following.
            let kind = match self.kind_of(Path::new(&name)) {
                Ok(Some(k)) => k,
                Ok(None) => continue, // removed meanwhile
                Err(e) => break Err(e),
            };
            out.push((name, kind));
        };
        // SAFETY: dirp came from fdopendir and is closed once.
        unsafe { libc::closedir(dirp) };
        result.map(|()| out)
    }

    /// Removes `name` from this folder: a file or link is unlinked (a link's target is never
    /// touched); a folder is emptied through its own descriptor, depth first, then removed.
    pub fn remove_tree(&self, name: &OsStr) -> io::Result<()> {
        match self.kind_of(Path::new(name))? {
            None => Ok(()),
            Some(Kind::Dir) => {
                let sub = self.open_dir(Path::new(name))?;
                for (entry, _) in sub.entries()? {
                    sub.remove_tree(&entry)?;
                }
                self.unlink(name, libc::AT_REMOVEDIR)
            }
            Some(_) => self.unlink(name, 0),
        }
    }

    /// Removes file (or link, FIFO) `name` from this folder; a missing one is not an error.
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        match self.unlink(name, 0) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn unlink(&self, name: &OsStr, flags: libc::c_int) -> io::Result<()> {
        if names(Path::new(name))?.len() != 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a name in one folder", Path::new(name).display()),
            ));
        }
        let c = cstr(name)?;
        // SAFETY: a valid descriptor and a NUL-terminated name.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), flags) } != 0 {
            return Err(last_error());
        }
        Ok(())
    }

    /// Moves `name` in this folder to `to_name` in folder `to`, failing with `AlreadyExists` if
    /// anything (even an empty folder, or a link) is there: `renameat2(RENAME_NOREPLACE)`.
    pub fn rename_no_replace(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> io::Result<()> {
        let (f, t) = (cstr(name)?, cstr(to_name)?);
        // SAFETY: valid descriptors and NUL-terminated names; renameat2 only reads them.
        let rc = unsafe {
            libc::renameat2(
                self.fd.as_raw_fd(),
                f.as_ptr(),
                to.fd.as_raw_fd(),
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = last_error();
        if matches!(err.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            // A file system without RENAME_NOREPLACE: check, then rename (the window between
            // the two is a documented limit).
            if to.kind_of(Path::new(to_name))?.is_some() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            // SAFETY: as above.
            let rc = unsafe {
                libc::renameat(
                    self.fd.as_raw_fd(),
                    f.as_ptr(),
                    to.fd.as_raw_fd(),
                    t.as_ptr(),
                )
            };
            return if rc == 0 { Ok(()) } else { Err(last_error()) };
        }
        Err(err)
    }

    /// fsyncs this folder (the names in it survive a power cut).
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: a valid descriptor.
        if unsafe { libc::fsync(self.fd.as_raw_fd()) } != 0 {
            return Err(last_error());
        }
        Ok(())
    }
}

/// Opens a file that is not in an archive (a source given on the command line) for reading,
/// only if it is a regular file: `O_NONBLOCK` and `fstat` before any read, so a FIFO or a
/// device is refused without blocking. Links in the path are followed: the operator named it.
pub fn open_regular_source(path: &Path) -> io::Result<File> {
    open_regular_path(path, 0)
}

/// Opens, for reading, a file that a walk which never follows links found (a bag's payload
/// file seen by `verify` or the watcher): its last component is opened with `O_NOFOLLOW`, and
/// only a regular file is returned (`O_NONBLOCK` and `fstat` first), so a link or FIFO put in
/// its place since the walk is refused, never followed or blocked on.
pub fn open_found(path: &Path) -> io::Result<File> {
    open_regular_path(path, libc::O_NOFOLLOW).map_err(|e| explain(e, "a regular file"))
}

fn open_regular_path(path: &Path, extra: libc::c_int) -> io::Result<File> {
    let c = cstr(path.as_os_str())?;
    let fd = openat(
        libc::AT_FDCWD,
        &c,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | extra,
        0,
    )?;
    regular_file(fd)
}

/// The file opened `O_NONBLOCK` as `fd`, if it is a regular one (`fstat`): a FIFO or device is
/// refused before a byte is read or written. A regular file goes back to ordinary (blocking)
/// I/O, as the rest of Capstan expects.
fn regular_file(fd: OwnedFd) -> io::Result<File> {
    let kind = Kind::of_mode(fstat(fd.as_raw_fd())?.st_mode);
    if kind != Kind::File {
        return Err(refused(kind.describe(), "a regular file"));
    }
    // SAFETY: a valid descriptor; F_GETFL/F_SETFL only change its status flags.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if fl >= 0 {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_link_anywhere_on_the_way_is_refused_and_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), b"secret").unwrap();
        std::fs::create_dir(tmp.path().join("a")).unwrap();
        symlink(outside.path(), tmp.path().join("a/link")).unwrap();
        symlink(outside.path().join("f"), tmp.path().join("a/flink")).unwrap();
        let root = Dir::open_root(tmp.path()).unwrap();
        for rel in ["a/link/f", "a/flink"] {
            let e = root.open_file(Path::new(rel), Access::Read).unwrap_err();
            assert!(refusal(&e).is_some(), "{rel}: {e}");
        }
        assert!(refusal(&root.open_dir(Path::new("a/link")).unwrap_err()).is_some());
        let e = root.open_file(Path::new("../x"), Access::Read).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        // Removing the folder removes the links, not what they point to.
        root.remove_tree(OsStr::new("a")).unwrap();
        assert!(!tmp.path().join("a").exists());
        assert_eq!(std::fs::read(outside.path().join("f")).unwrap(), b"secret");
    }

    #[test]
    fn the_walk_used_without_openat2_refuses_links_the_same_way() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("f"), b"secret").unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::write(tmp.path().join("a/b/ok"), b"ok").unwrap();
        symlink(outside.path(), tmp.path().join("a/link")).unwrap();
        let root = Dir::open_root(tmp.path()).unwrap();
        let fd = root.fd.as_raw_fd();
        // The walk itself (what runs when the kernel has no openat2).
        let open = |rel: &str| {
            let parts = names(Path::new(rel)).unwrap();
            walk(fd, &parts, libc::O_RDONLY | libc::O_NOFOLLOW, 0)
        };
        assert!(open("a/b/ok").is_ok());
        assert_eq!(
            open("a/link/f").unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(
            open("a/link").unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(
            names(Path::new("a/../../x")).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        // And the opener with the fallback forced gives the same answers.
        NO_OPENAT2.store(true, Ordering::Relaxed);
        let read = root.open_file(Path::new("a/b/ok"), Access::Read);
        let linked = root.open_file(Path::new("a/link/f"), Access::Read);
        NO_OPENAT2.store(false, Ordering::Relaxed);
        assert!(read.is_ok());
        assert!(refusal(&linked.unwrap_err()).is_some());
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("p");
        let c = cstr(fifo.as_os_str()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let root = Dir::open_root(tmp.path()).unwrap();
        for access in [Access::Read, Access::Append, Access::ReadWriteCreate] {
            let e = root.open_file(Path::new("p"), access).unwrap_err();
            assert_eq!(refusal(&e).unwrap().found, "a FIFO", "{access:?}: {e}");
        }
        let e = open_regular_source(&fifo).unwrap_err();
        assert!(e.to_string().contains("a FIFO, not a regular file"), "{e}");
    }
}
