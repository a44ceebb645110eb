//! A deep audit of a replica: every object read back in full and put through the checks of a
//! local `verify --deep` (its SHA-256 against the bag's manifest; for FLAC, every frame's CRC
//! and the STREAMINFO audio MD5 in the same read), so damage a store's own checksum cannot show
//! (bytes changed under an unchanged stored checksum, an object put out of band) is found and
//! located in time.
//!
//! # Promises
//!
//! - **Bounded memory.** An object is read in ranges of [`RANGE`] bytes, [`WINDOW`] of them
//!   asked for at once and at most as many more waiting to be decoded, whatever its size.
//! - **Each byte is fetched once.** The ranges tile the object; the digest and the decoder see
//!   them in order.
//! - **No answer is not damage.** A range the store does not give is [`S3Error`], made
//!   `unreachable` by the caller; an object gone while it was read is `missing`.

use super::s3::{S3Error, Store};
use super::{Expected, Finding};
use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};

/// Bytes per ranged GET (large enough that a request's cost is small beside its transfer).
pub const RANGE: u64 = 8 << 20;
/// Ranges of one object asked for at once.
pub const WINDOW: usize = 4;

/// The range size in use: [`RANGE`], or `CAPSTAN_DEEP_RANGE_BYTES` (at least 64 KiB) so tests
/// can read a small object in many ranges.
fn range_bytes() -> u64 {
    std::env::var("CAPSTAN_DEEP_RANGE_BYTES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(RANGE, |v| v.max(64 << 10))
}

/// What reading an object back found: nothing wrong ([`Finding::Present`]), or how it differs
/// from what the manifest proves (with the audio's damage located), or that it is gone.
pub fn check_object(store: &Store, o: &Expected, size: u64) -> Result<Finding, S3Error> {
    let rel = o.rel();
    let flac = rel.to_ascii_lowercase().ends_with(".flac");
    let mut sha = Sha256::new();
    let mut read = 0u64;
    let checked = read_object(store, &store.location.key(&rel), size, |reader| {
        let mut tap = |b: &[u8]| {
            sha.update(b);
            read += b.len() as u64;
        };
        if flac {
            crate::flac::verify::check_stream(Path::new(&rel), reader, &mut tap)
                .map(Some)
                .map_err(|e| e.to_string())
        } else {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return Ok(None),
                    Ok(n) => tap(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
    })?;
    let Some(outcome) = checked else {
        return Ok(Finding::Missing);
    };
    // A read that failed for want of the store was returned above as its S3Error; what is left
    // is the decoder's own failure to read, which only the store's bytes can have caused.
    let audio = match outcome {
        Ok(audio) => audio,
        Err(why) => {
            return Ok(Finding::Different {
                detail: format!("read back in full, it could not be decoded: {why}"),
            })
        }
    };
    let digest: [u8; 32] = sha.finalize().into();
    let mut wrong = Vec::new();
    if digest != o.sha256 {
        wrong.push(format!(
            "read back in full, its {read} bytes have SHA-256 {}, the manifest says {}",
            crate::flac::hex(&digest),
            crate::flac::hex(&o.sha256)
        ));
    }
    if let Some(audio) = &audio {
        for p in crate::fixity::audio_problems(audio, &rel, None, digest != o.sha256) {
            wrong.push(p.detail);
        }
    }
    Ok(match wrong.is_empty() {
        true => Finding::Present,
        false => Finding::Different {
            detail: wrong.join("; "),
        },
    })
}

/// Reads the object at `key` (`size` bytes, from the listing) in ranges, [`WINDOW`] at once,
/// and hands them in order to `consume` as one stream. `None` if the object is gone; an error
/// if the store did not give a range.
fn read_object<R>(
    store: &Store,
    key: &str,
    size: u64,
    consume: impl FnOnce(&mut dyn Read) -> R,
) -> Result<Option<R>, S3Error> {
    let range = range_bytes();
    let ranges: Vec<(u64, u64)> = (0..size.div_ceil(range))
        .map(|i| (i * range, range.min(size - i * range)))
        .collect();
    let (tx, rx) = sync_channel::<Result<Option<Vec<u8>>, S3Error>>(WINDOW);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for batch in ranges.chunks(WINDOW) {
                let got: Vec<_> = std::thread::scope(|inner| {
                    let asked: Vec<_> = batch
                        .iter()
                        .map(|&(start, len)| inner.spawn(move || store.get_range(key, start, len)))
                        .collect();
                    asked
                        .into_iter()
                        .map(|h| h.join().expect("a ranged read does not panic"))
                        .collect()
                });
                for g in got {
                    let last = !matches!(g, Ok(Some(_)));
                    // The reader gone (the decoder stopped) or the object no longer whole.
                    if tx.send(g).is_err() || last {
                        return;
                    }
                }
            }
        });
        let mut reader = Ranges {
            rx,
            current: Vec::new(),
            at: 0,
            gone: false,
            failed: None,
        };
        let out = consume(&mut reader);
        // Whatever the consumer left unread is still fetched: drain it so the digest callers
        // rely on saw every range, and the producer is never left blocked.
        let mut sink = [0u8; 1 << 16];
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
        let Ranges { failed, gone, .. } = reader;
        match (failed, gone) {
            (Some(e), _) => Err(e),
            (None, true) => Ok(None),
            (None, false) => Ok(Some(out)),
        }
    })
}

/// The ranges of one object as a reader, in order.
struct Ranges {
    rx: Receiver<Result<Option<Vec<u8>>, S3Error>>,
    current: Vec<u8>,
    at: usize,
    /// The object went away mid-read.
    gone: bool,
    failed: Option<S3Error>,
}

impl Read for Ranges {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            if self.failed.is_some() || self.gone {
                return Err(io::Error::other("the replica's object could not be read"));
            }
            match self.rx.recv() {
                Ok(Ok(Some(bytes))) => {
                    self.current = bytes;
                    self.at = 0;
                }
                Ok(Ok(None)) => self.gone = true,
                Ok(Err(e)) => self.failed = Some(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
