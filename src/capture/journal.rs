//! The take journal: a take as it is captured, durable at least once a second, in
//! `ARCHIVE/.capstan/journal/`.
//!
//! The journal is an RF64 WAV (so any length fits) whose sizes are written as zero at the start
//! and filled in when the take ends; the samples in between are appended as they arrive and
//! `fdatasync`ed every [`SYNC_EVERY`] on a thread of its own (so a slow flush never holds up
//! the capture). Beside it, `<name>.json` says what the take is (profile, id, metadata, device,
//! start) and `<name>.gaps.jsonl` lists every overrun and xrun as it happens, synced with the
//! samples. A journal is owned by the process holding an OS lock on
//! its WAV; one whose owner is gone (crash, kill -9, power cut) is [`recover`]ed: cut to its
//! last whole frame, its sizes filled in, and it is an ordinary WAV the ingest path reads. So a
//! crash loses at most the last second.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the journal is made durable, at least.
pub const SYNC_EVERY: Duration = Duration::from_millis(500);

/// What a take is, for whoever finishes or recovers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TakeInfo {
    /// The profile's name or path, as given to `capture`.
    pub profile: String,
    pub id: String,
    pub collection: String,
    /// The operator's fields.
    pub meta: Vec<(String, String)>,
    pub device: String,
    /// RFC 3339.
    pub started: String,
    pub pid: u32,
}

/// Samples lost: dropped by the ring (`overrun`) or by the device (`xrun`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Gap {
    /// `overrun` or `xrun`.
    pub kind: GapKind,
    /// Frames of the take written before the gap.
    pub at: u64,
    /// Frames lost (0 when the device does not say).
    pub frames: u64,
}

/// The last line of a gaps file whose take ended but was not finished.
#[derive(Debug, Serialize, Deserialize)]
struct End {
    ended: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GapKind {
    Overrun,
    Xrun,
}

impl GapKind {
    /// Its name, as the gaps file, the QC report and live events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            GapKind::Overrun => "overrun",
            GapKind::Xrun => "xrun",
        }
    }
}

/// Adds a gap to a take's list: one that continues the last (same kind, same position: the
/// ring stayed full over several device periods) lengthens it instead.
pub fn merge_gap(gaps: &mut Vec<Gap>, gap: Gap) {
    match gaps.last_mut() {
        Some(last) if last.kind == gap.kind && last.at == gap.at => last.frames += gap.frames,
        _ => gaps.push(gap),
    }
}

/// Why a journal could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("journal {path}: {detail}")]
    Bad { path: PathBuf, detail: String },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The RF64 header for `data_bytes` of samples (0 while capturing): RF64 from the start, so
/// that any length fits and finishing only rewrites the sizes in place.
fn header(channels: u16, rate: u32, bits: u16, data_bytes: u64) -> Vec<u8> {
    crate::flac::riff::wav_header(channels, rate, bits, data_bytes, true)
}

/// A take being written.
pub struct Journal {
    wav: File,
    gaps: File,
    path: PathBuf,
    channels: u16,
    rate: u32,
    bits: u16,
    frames: u64,
    packed: Vec<u8>,
    syncer: Option<Syncer>,
}

/// Makes the journal durable every [`SYNC_EVERY`] on a thread of its own: a disk slow to flush
/// (a USB drive, a busy array) then holds up only the flush, never the draining of the capture
/// ring, whose 4 s would otherwise be all the slack the disk had.
struct Syncer {
    stop: Arc<AtomicBool>,
    failed: Arc<Mutex<Option<io::Error>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(wav: &File, gaps: &File) -> io::Result<Syncer> {
        let (wav, gaps) = (wav.try_clone()?, gaps.try_clone()?);
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(Mutex::new(None));
        let (stop_t, failed_t) = (Arc::clone(&stop), Arc::clone(&failed));
        let thread = std::thread::Builder::new()
            .name("journal sync".into())
            .spawn(move || loop {
                std::thread::park_timeout(SYNC_EVERY);
                if stop_t.load(Ordering::Acquire) {
                    return;
                }
                if let Err(e) = wav.sync_data().and_then(|_| gaps.sync_data()) {
                    *failed_t.lock().expect("sync failure lock") = Some(e);
                    return;
                }
            })?;
        Ok(Syncer {
            stop,
            failed,
            thread: Some(thread),
        })
    }

    /// The flush that failed, if one did.
    fn failure(&self) -> Option<io::Error> {
        self.failed.lock().expect("sync failure lock").take()
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Journal {
    /// Creates `dir/<name>.wav` (locked), `.json` and `.gaps.jsonl`.
    pub fn create(
        dir: &Path,
        name: &str,
        info: &TakeInfo,
        channels: u16,
        rate: u32,
        bits: u16,
    ) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        let path = dir.join(format!("{name}.wav"));
        let wav = File::create_new(&path).map_err(io_at(&path))?;
        wav.try_lock().map_err(|e| JournalError::Bad {
            path: path.clone(),
            detail: format!("cannot lock: {e}"),
        })?;
        let side = |ext: &str| dir.join(format!("{name}.{ext}"));
        let json = side("json");
        // Created, never opened through an existing name (a link there is not followed).
        File::create_new(&json)
            .and_then(|mut f| {
                f.write_all(
                    serde_json::to_string_pretty(info)
                        .expect("take info serialises")
                        .as_bytes(),
                )
            })
            .map_err(io_at(&json))?;
        let gaps_path = side("gaps.jsonl");
        let gaps = File::create_new(&gaps_path).map_err(io_at(&gaps_path))?;
        // Room reserved for the gap records and the end note, so that a disk filled by
        // someone else can still take them (best effort: not every file system reserves).
        {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid descriptor; KEEP_SIZE leaves the file's length at 0.
            unsafe { libc::fallocate(gaps.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, 64 << 10) };
        }
        let mut j = Journal {
            wav,
            gaps,
            path,
            channels,
            rate,
            bits,
            frames: 0,
            packed: Vec::new(),
            syncer: None,
        };
        j.wav
            .write_all(&header(channels, rate, bits, 0))
            .map_err(io_at(&j.path))?;
        j.sync()?;
        crate::archive::sync_dir(dir).map_err(|e| JournalError::Bad {
            path: dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        j.syncer = Some(Syncer::start(&j.wav, &j.gaps).map_err(io_at(&j.path))?);
        Ok(j)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes of samples written so far.
    pub fn bytes(&self) -> u64 {
        self.frames * u64::from(self.channels) * u64::from(self.bits / 8)
    }

    /// Says beside the gaps why the take ended, for a recovery that finishes it later.
    pub fn note_end(&mut self, reason: &str) -> Result<(), JournalError> {
        let line = serde_json::to_string(&End {
            ended: reason.into(),
        })
        .expect("end serialises")
            + "\n";
        self.gaps
            .write_all(line.as_bytes())
            .map_err(io_at(&self.path))?;
        self.gaps.sync_data().map_err(io_at(&self.path))
    }

    /// Appends interleaved frames (full-scale for the journal's depth, right-justified).
    pub fn append(&mut self, samples: &[i32]) -> Result<(), JournalError> {
        let width = usize::from(self.bits / 8);
        self.packed.clear();
        self.packed.reserve(samples.len() * width);
        for &s in samples {
            self.packed.extend_from_slice(&s.to_le_bytes()[..width]);
        }
        self.wav
            .write_all(&self.packed)
            .map_err(io_at(&self.path))?;
        self.frames += (samples.len() / usize::from(self.channels)) as u64;
        if let Some(e) = self.syncer.as_ref().and_then(Syncer::failure) {
            return Err(io_at(&self.path)(e));
        }
        Ok(())
    }

    /// Notes a gap, durable with the samples before it.
    pub fn gap(&mut self, gap: Gap) -> Result<(), JournalError> {
        let line = serde_json::to_string(&gap).expect("gap serialises") + "\n";
        self.gaps
            .write_all(line.as_bytes())
            .map_err(io_at(&self.path))?;
        self.sync()
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        self.wav.sync_data().map_err(io_at(&self.path))?;
        self.gaps.sync_data().map_err(io_at(&self.path))
    }

    /// Fills in the sizes and syncs: the journal is now a complete RF64 WAV. The lock is held
    /// until the returned file is dropped.
    pub fn finish(mut self) -> Result<(PathBuf, File), JournalError> {
        drop(self.syncer.take());
        let bytes = self.bytes();
        // A write cut short (a full disk) may have left part of a frame past the last whole one.
        let header_len = header(self.channels, self.rate, self.bits, 0).len() as u64;
        self.wav
            .set_len(header_len + bytes)
            .map_err(io_at(&self.path))?;
        self.wav
            .seek(SeekFrom::Start(0))
            .and_then(|_| {
                self.wav
                    .write_all(&header(self.channels, self.rate, self.bits, bytes))
            })
            .map_err(io_at(&self.path))?;
        self.sync()?;
        Ok((self.path, self.wav))
    }
}

/// A journal found in the journal folder.
#[derive(Debug)]
pub struct Orphan {
    pub wav: PathBuf,
    pub info: TakeInfo,
    pub gaps: Vec<Gap>,
    /// Why the take ended, when its capture lived to say so (a take it could not finish).
    pub ended: Option<String>,
    /// Held while it is being recovered.
    pub lock: File,
}

/// Journals whose owner is gone (their lock is free), oldest first. The journal folder's files
/// are opened through [`confined`](crate::archive::confined): a link, a FIFO or a folder in a
/// journal file's place is refused (naming it) without being followed or read.
pub fn orphans(dir: &Path) -> Result<Vec<Orphan>, JournalError> {
    use crate::archive::confined::{refusal, Access, Dir};
    let mut found = Vec::new();
    let bad = |path: &Path| {
        let path = path.to_path_buf();
        move |e: io::Error| match refusal(&e) {
            Some(r) => JournalError::Bad {
                path,
                detail: r.to_string(),
            },
            None => io_at(&path)(e),
        }
    };
    let folder = match Dir::open_root(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(bad(dir)(e)),
    };
    let mut wavs: Vec<std::ffi::OsString> = folder
        .entries()
        .map_err(bad(dir))?
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "wav"))
        .collect();
    wavs.sort();
    let read_small = |name: &Path| -> io::Result<Vec<u8>> {
        let f = folder.open_file(name, Access::Read)?;
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(f, 64 << 20), &mut bytes)?;
        Ok(bytes)
    };
    for name in wavs {
        let wav = dir.join(&name);
        let lock = folder
            .open_file(Path::new(&name), Access::ReadWrite)
            .map_err(bad(&wav))?;
        if lock.try_lock().is_err() {
            continue; // a capture in progress
        }
        let json = wav.with_extension("json");
        let json_name = Path::new(&name).with_extension("json");
        let info: TakeInfo = read_small(&json_name).map_err(bad(&json)).and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| JournalError::Bad {
                path: json.clone(),
                detail: e.to_string(),
            })
        })?;
        let gaps_name = Path::new(&name).with_extension("gaps.jsonl");
        let (mut gaps, mut ended) = (Vec::new(), None);
        let gaps_text = match read_small(&gaps_name) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(bad(&wav.with_extension("gaps.jsonl"))(e)),
        };
        for line in gaps_text.lines() {
            // A line torn by the crash is the only one that may not parse.
            if let Ok(g) = serde_json::from_str(line) {
                merge_gap(&mut gaps, g);
            } else if let Ok(e) = serde_json::from_str::<End>(line) {
                ended = Some(e.ended);
            }
        }
        found.push(Orphan {
            wav,
            info,
            gaps,
            ended,
            lock,
        });
    }
    Ok(found)
}

/// Makes an interrupted journal a complete WAV: cut to its last whole frame, sizes filled in.
/// Returns the frames it holds.
pub fn seal(wav: &Path, lock: &mut File) -> Result<u64, JournalError> {
    let bad = |detail: String| JournalError::Bad {
        path: wav.to_path_buf(),
        detail,
    };
    let len = lock.metadata().map_err(io_at(wav))?.len();
    // RIFF (12) + ds64 (36) + "fmt " and its size (8), then the fmt payload.
    let mut head = vec![0u8; 56];
    lock.seek(SeekFrom::Start(0))
        .and_then(|_| io::Read::read_exact(lock, &mut head))
        .map_err(|e| bad(format!("{len} bytes, shorter than a journal header ({e})")))?;
    if &head[..4] != b"RF64" || &head[48..52] != b"fmt " {
        return Err(bad("not a Capstan journal header".into()));
    }
    let fmt_len = u64::from(u32::from_le_bytes([head[52], head[53], head[54], head[55]]));
    let mut fmt = vec![0u8; fmt_len.clamp(16, 40) as usize];
    io::Read::read_exact(lock, &mut fmt).map_err(io_at(wav))?;
    let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
    if channels == 0 || !matches!(bits, 16 | 24 | 32) {
        return Err(bad(format!("{channels} channels of {bits} bits")));
    }
    let header_len = header(channels, rate, bits, 0).len() as u64;
    if len < header_len {
        return Err(bad(format!("{len} bytes: shorter than its header")));
    }
    let block = u64::from(channels) * u64::from(bits / 8);
    let frames = (len - header_len) / block;
    let bytes = frames * block;
    lock.set_len(header_len + bytes).map_err(io_at(wav))?;
    lock.seek(SeekFrom::Start(0))
        .and_then(|_| lock.write_all(&header(channels, rate, bits, bytes)))
        .and_then(|_| lock.sync_all())
        .map_err(io_at(wav))?;
    Ok(frames)
}

/// Removes a journal's files once its take is in the archive.
pub fn remove(wav: &Path) {
    for p in [
        wav.to_path_buf(),
        wav.with_extension("json"),
        wav.with_extension("gaps.jsonl"),
    ] {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::wav::WavReader;

    fn info() -> TakeInfo {
        TakeInfo {
            profile: "dat".into(),
            id: "t".into(),
            collection: "c".into(),
            meta: vec![("TITLE".into(), "x".into())],
            device: "demo".into(),
            started: "2026-11-21T00:00:00Z".into(),
            pid: 1,
        }
    }

    fn read_back(path: &Path) -> (u16, Vec<i32>) {
        let mut r = WavReader::open(path).unwrap();
        let ch = r.info().channels;
        let mut all = Vec::new();
        let mut buf = vec![0i32; 4096 * usize::from(ch)];
        loop {
            let n = r.read_frames(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n * usize::from(ch)]);
        }
        (ch, all)
    }

    #[test]
    fn a_finished_journal_is_a_wav_of_the_samples() {
        let tmp = tempfile::tempdir().unwrap();
        for bits in [16u16, 24, 32] {
            let name = format!("take{bits}");
            let mut j = Journal::create(tmp.path(), &name, &info(), 3, 48_000, bits).unwrap();
            let full = 1i64 << (bits - 1);
            let samples: Vec<i32> = (0..3000i64)
                .map(|i| ((i * 7919) % (2 * full) - full) as i32)
                .collect();
            j.append(&samples[..1500]).unwrap();
            j.gap(Gap {
                kind: GapKind::Overrun,
                at: 500,
                frames: 64,
            })
            .unwrap();
            j.append(&samples[1500..]).unwrap();
            let (path, _lock) = j.finish().unwrap();
            let (ch, back) = read_back(&path);
            assert_eq!(ch, 3);
            assert_eq!(back, samples, "{bits} bits");
        }
    }

    #[test]
    fn a_journal_being_written_is_not_an_orphan() {
        let tmp = tempfile::tempdir().unwrap();
        let mut j = Journal::create(tmp.path(), "live", &info(), 2, 48_000, 16).unwrap();
        j.append(&[1, 2, 3, 4]).unwrap();
        assert!(orphans(tmp.path()).unwrap().is_empty());
        drop(j);
        assert_eq!(orphans(tmp.path()).unwrap().len(), 1);
    }

    #[test]
    fn seal_cuts_a_torn_frame_and_fills_in_the_sizes() {
        let tmp = tempfile::tempdir().unwrap();
        let samples: Vec<i32> = (0..2000).map(|i| i * 100 - 50_000).collect();
        let path = {
            let mut j = Journal::create(tmp.path(), "cut", &info(), 2, 96_000, 24).unwrap();
            j.append(&samples).unwrap();
            j.gap(Gap {
                kind: GapKind::Xrun,
                at: 1000,
                frames: 0,
            })
            .unwrap();
            j.wav.write_all(&[1, 2, 3, 4]).unwrap();
            j.path.clone()
            // dropped: the lock goes with the handle, as with a dead process
        };
        let mut found = orphans(tmp.path()).unwrap();
        assert_eq!(found.len(), 1);
        let o = &mut found[0];
        assert_eq!(o.wav, path);
        assert_eq!(o.info, info());
        assert_eq!(o.gaps.len(), 1);
        assert_eq!(seal(&o.wav, &mut o.lock).unwrap(), 1000);
        let (_, back) = read_back(&path);
        assert_eq!(back, samples);
    }
}
