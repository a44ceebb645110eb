//! The writer's side of capture: how a take ends ([`TakeEnd`]).
//!
//! A take ends in one of a closed set of ways; each is a variant here, and its words (what the
//! QC report's `capture.ended`, the app's `ended` event and the journal's end note say) are
//! written once, in [`TakeEnd`]'s `Display`, byte for byte as earlier releases wrote them, so
//! reports already in archives keep reading the same.

use super::journal::JournalError;
use serde::{Serialize, Serializer};
use std::fmt;

/// How a take ended.
#[derive(Debug)]
pub enum TakeEnd {
    /// The requested duration was reached: `duration reached`.
    Duration,
    /// A stop was asked for (Ctrl-C, SIGTERM, the app): `stopped`.
    Stopped,
    /// The disk no longer had room to finish the master, `free` bytes left.
    DiskFull { free: u64 },
    /// The journal could not be written because its disk (or quota) is full.
    JournalFull(JournalError),
    /// The journal could not be written for another reason.
    JournalWrite(JournalError),
    /// The device's stream failed; `kind` is cpal's `ErrorKind` code.
    DeviceError { kind: u8 },
    /// The device delivered nothing for `seconds` (unplugged, hung).
    DeviceSilent { seconds: u64 },
    /// A take finished by `recover` from its journal; `noted` is the end its capture wrote
    /// beside the journal, when it lived to write one.
    Recovered { noted: Option<String> },
}

impl TakeEnd {
    /// The end of a take whose journal could not be written: a full disk or quota is named as
    /// such (the operator frees space), anything else as a write failure.
    pub fn journal(e: JournalError) -> TakeEnd {
        let full = matches!(&e, JournalError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::StorageFull
                || source.raw_os_error() == Some(libc::EDQUOT));
        if full {
            TakeEnd::JournalFull(e)
        } else {
            TakeEnd::JournalWrite(e)
        }
    }

    /// The take ended as the operator asked (its duration, a stop), not on a failure.
    pub fn as_asked(&self) -> bool {
        matches!(self, TakeEnd::Duration | TakeEnd::Stopped)
    }

    /// The device failed: a hung device may never give its stream back.
    pub fn is_device_failure(&self) -> bool {
        matches!(
            self,
            TakeEnd::DeviceError { .. } | TakeEnd::DeviceSilent { .. }
        )
    }
}

impl fmt::Display for TakeEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TakeEnd::Duration => f.write_str("duration reached"),
            TakeEnd::Stopped => f.write_str("stopped"),
            TakeEnd::DiskFull { free } => write!(
                f,
                "disk full: stopped with {} free, the room the master needs",
                crate::units::bytes_human(*free)
            ),
            TakeEnd::JournalFull(e) => write!(f, "disk full: {e}"),
            TakeEnd::JournalWrite(e) => write!(f, "journal write failed: {e}"),
            TakeEnd::DeviceError { kind } => write!(f, "device error (cpal error kind {kind})"),
            TakeEnd::DeviceSilent { seconds } => {
                write!(f, "device error: no samples for {seconds} s")
            }
            TakeEnd::Recovered {
                noted: Some(reason),
            } => {
                write!(f, "{reason} (finished from its journal by recover)")
            }
            TakeEnd::Recovered { noted: None } => {
                f.write_str("interrupted (recovered from its journal)")
            }
        }
    }
}

/// Serialised as its words (the QC report's `capture.ended`).
impl Serialize for TakeEnd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn io(kind: std::io::ErrorKind) -> JournalError {
        JournalError::Io {
            path: PathBuf::from("/a/journal/t.wav"),
            source: std::io::Error::from(kind),
        }
    }

    /// The words every earlier release wrote, one per way a take ends.
    #[test]
    fn each_end_reads_as_earlier_releases_wrote_it() {
        let enospc = JournalError::Io {
            path: PathBuf::from("/a/journal/t.wav"),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let eio = io(std::io::ErrorKind::PermissionDenied);
        let cases: Vec<(TakeEnd, String)> = vec![
            (TakeEnd::Duration, "duration reached".into()),
            (TakeEnd::Stopped, "stopped".into()),
            (
                TakeEnd::DiskFull { free: 3 << 20 },
                "disk full: stopped with 3.00 MiB free, the room the master needs".into(),
            ),
            (
                TakeEnd::journal(enospc),
                format!(
                    "disk full: journal /a/journal/t.wav: {}",
                    std::io::Error::from_raw_os_error(libc::ENOSPC)
                ),
            ),
            (
                TakeEnd::journal(eio),
                format!(
                    "journal write failed: journal /a/journal/t.wav: {}",
                    std::io::Error::from(std::io::ErrorKind::PermissionDenied)
                ),
            ),
            (
                TakeEnd::DeviceError { kind: 3 },
                "device error (cpal error kind 3)".into(),
            ),
            (
                TakeEnd::DeviceSilent { seconds: 5 },
                "device error: no samples for 5 s".into(),
            ),
            (
                TakeEnd::Recovered {
                    noted: Some("device error: no samples for 5 s".into()),
                },
                "device error: no samples for 5 s (finished from its journal by recover)".into(),
            ),
            (
                TakeEnd::Recovered { noted: None },
                "interrupted (recovered from its journal)".into(),
            ),
        ];
        for (end, words) in cases {
            assert_eq!(end.to_string(), words);
            assert_eq!(
                serde_json::to_string(&end).unwrap(),
                serde_json::to_string(&words).unwrap()
            );
        }
    }

    #[test]
    fn only_a_duration_or_a_stop_ends_a_take_as_asked() {
        assert!(TakeEnd::Duration.as_asked() && TakeEnd::Stopped.as_asked());
        for end in [
            TakeEnd::DiskFull { free: 0 },
            TakeEnd::DeviceError { kind: 0 },
            TakeEnd::DeviceSilent { seconds: 5 },
            TakeEnd::journal(io(std::io::ErrorKind::Other)),
            TakeEnd::Recovered { noted: None },
        ] {
            assert!(!end.as_asked(), "{end}");
            assert_eq!(
                end.is_device_failure(),
                end.to_string().starts_with("device error"),
                "{end}"
            );
        }
    }
}
