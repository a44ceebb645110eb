//! Disk room: whether the archive's disk can take (and still finish) a take.
//!
//! A take needs room twice, for its journal and for its master; capture refuses a take whose
//! requested duration does not fit, and ends one while its master still fits.

use crate::archive::Archive;
use crate::profile::Profile;
use std::time::Duration;

/// How often, at least, capture checks that the disk still has room to finish the take.
pub(super) const SPACE_CHECK_EVERY: Duration = Duration::from_millis(250);

/// Free bytes a take of `journal_bytes` needs to be finished: its master (FLAC of
/// incompressible audio is at most a few per mille larger than the PCM), the bag's small files,
/// and a margin for everything else writing to the disk.
pub(super) fn master_room(journal_bytes: u64) -> u64 {
    journal_bytes + journal_bytes / 64 + 16 * 1024 * 1024
}

/// Seconds of recording at `profile`'s data rate that the free disk under `archive` allows
/// (journal and master both), or None when the disk cannot say. What a take is told as it
/// starts ([`CaptureEvent::Ready`]), for showing before one does.
pub fn recording_room(archive: &Archive, profile: &Profile) -> Option<f64> {
    free_bytes(&archive.root).map(|free| free as f64 / data_rate(profile) as f64)
}

/// Bytes a second of journal plus master (the master at most the journal's size).
fn data_rate(p: &Profile) -> u64 {
    2 * u64::from(p.sample_rate) * p.channel_names.len() as u64 * u64::from(p.bit_depth / 8)
}

/// Free bytes for unprivileged writers where `path` is.
pub(super) fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a valid C string and a zeroed out-parameter.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut s) } == 0).then(|| s.f_bavail * s.f_frsize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_is_stopped_while_its_master_still_fits() {
        let gib = 1u64 << 30;
        assert!(master_room(gib) > gib + gib / 100);
        assert!(master_room(0) >= 16 << 20);
    }
}
