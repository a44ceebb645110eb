//! Restoration: derived copies of a take — declicked, optionally brought to a target loudness —
//! never touching the preservation master (IASA TC-04: the master is the flat transfer; the
//! access copy is a separate file that says in its coding history what was done and from what).
//!
//! [`derive`] is the one streaming path: samples in, through the declicker (when asked) and a
//! gain (when asked), out to a sink, with the repairs the declicker made. Ingest and capture use
//! it for `<id>_ac.flac`; `capstan declick` uses it on any WAV or FLAC.
//!
//! Promises: where nothing is repaired and no gain is asked, every sample comes out unchanged
//! (the declicker is bit-transparent); a gain never clips — it is limited so that the copy's
//! true peak stays at or below [`CEILING_DBTP`] (EBU R 128's maximum permitted true peak), and
//! the limit is said; memory is bounded whatever the take's length.

use crate::dsp::declick::{DeclickError, DeclickSettings, Declicker, Repair};
use crate::flac::decode::FlacReader;
use crate::flac::encode::{MasterEncoder, MasterMetadata, StreamSpec};
use crate::flac::{riff, FlacError};
use crate::report::{repair_defects, DeclickReport, Defect};
use crate::source::wav::{WavError, WavReader};
use crate::units::{FrameCount, Timecode};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

/// Highest true peak a gain may bring a copy to, dBTP (EBU R 128).
pub const CEILING_DBTP: f64 = -1.0;

/// Frames handed to the declicker at a time.
const BLOCK_FRAMES: usize = 1 << 15;

/// The gain that brings programme of `integrated_lufs` and `true_peak_dbtp` to `target_lufs`,
/// limited so that its true peak stays at or below [`CEILING_DBTP`]. `None` when the programme
/// has no measurable loudness (silence). Returns (gain dB, limited by the ceiling).
pub fn loudness_gain(
    target_lufs: f64,
    integrated_lufs: Option<f64>,
    true_peak_dbtp: Option<f64>,
) -> Option<(f64, bool)> {
    let wanted = target_lufs - integrated_lufs?;
    match true_peak_dbtp {
        Some(tp) if tp + wanted > CEILING_DBTP => Some((CEILING_DBTP - tp, true)),
        _ => Some((wanted, false)),
    }
}

/// What to do to the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Processing {
    pub declick: Option<DeclickSettings>,
    /// dB; 0 leaves levels alone.
    pub gain_db: f64,
}

/// Why a derived copy could not be made; `E` is the error of the caller's reader or sink.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError<E> {
    #[error(transparent)]
    Declick(#[from] DeclickError),
    #[error(transparent)]
    Io(E),
}

/// Streams `read` (fills whole interleaved frames, returns samples written, 0 at the end)
/// through the processing into `write`; returns the repairs made, ordered by start then
/// channel. Reading, processing and writing run on three threads (the declicker spreads its
/// own work over the cores), with a few blocks in flight between them: memory stays bounded.
pub fn derive<E: Send>(
    channels: usize,
    sample_rate: u32,
    bits: u32,
    processing: &Processing,
    mut read: impl FnMut(&mut [i32]) -> Result<usize, E> + Send,
    mut write: impl FnMut(&[i32]) -> Result<(), E> + Send,
) -> Result<Vec<Repair>, DeriveError<E>> {
    let mut declicker = processing
        .declick
        .as_ref()
        .map(|s| Declicker::new(channels, sample_rate, bits, s))
        .transpose()?;
    let gain = Gain::new(processing.gain_db, bits);
    let (to_work, from_reader) = sync_channel::<Vec<i32>>(2);
    let (to_writer, from_work) = sync_channel::<Vec<i32>>(2);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || -> Result<(), E> {
            loop {
                let mut block = vec![0i32; BLOCK_FRAMES * channels];
                let n = read(&mut block)?;
                block.truncate(n);
                // A closed channel: the other side stopped, and says why.
                if to_work.send(block).is_err() || n == 0 {
                    return Ok(());
                }
            }
        });
        let writer = scope.spawn(move || -> Result<(), E> {
            for block in from_work {
                write(&block)?;
            }
            Ok(())
        });
        let mut repairs = Vec::new();
        for input in from_reader {
            let mut output = Vec::with_capacity(input.len() + BLOCK_FRAMES * channels);
            match declicker.as_mut() {
                Some(d) if !input.is_empty() => {
                    d.process(&input, &mut output);
                    repairs.extend(d.take_repairs());
                }
                Some(_) => {
                    let d = declicker.take().expect("a declicker");
                    repairs.extend(d.finish(&mut output));
                }
                None => output = input,
            }
            if let Some(g) = &gain {
                g.apply(&mut output);
            }
            if !output.is_empty() && to_writer.send(output).is_err() {
                break;
            }
        }
        drop(to_writer);
        let read = reader.join().expect("reader thread");
        let written = writer.join().expect("writer thread");
        read.and(written).map_err(DeriveError::Io)?;
        Ok(repairs)
    })
}

/// A fixed gain on integer samples, rounded and held within the format's range.
struct Gain {
    factor: f64,
    min: f64,
    max: f64,
}

impl Gain {
    fn new(db: f64, bits: u32) -> Option<Gain> {
        (db != 0.0).then(|| {
            let full = (1i64 << (bits - 1)) as f64;
            Gain {
                factor: 10f64.powf(db / 20.0),
                min: -full,
                max: full - 1.0,
            }
        })
    }

    fn apply(&self, samples: &mut [i32]) {
        for s in samples {
            *s = (f64::from(*s) * self.factor)
                .round()
                .clamp(self.min, self.max) as i32;
        }
    }
}

/// Why `capstan declick` could not make its output. Nothing is left at the output path.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Wav(#[from] WavError),
    #[error(transparent)]
    Flac(#[from] FlacError),
    #[error("{path}: {source}")]
    Declick { path: PathBuf, source: DeclickError },
    #[error("{path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} already exists; Capstan does not overwrite files")]
    Exists { path: PathBuf },
    #[error("{path}: {detail}")]
    Format { path: PathBuf, detail: String },
}

impl RestoreError {
    /// 1 for what is wrong with the input or the request, 2 when the output could not be written.
    pub fn exit_code(&self) -> u8 {
        match self {
            RestoreError::Io { .. } => 2,
            RestoreError::Flac(FlacError::Io { source, .. })
                if crate::archive::out_of_space(source) =>
            {
                2
            }
            _ => 1,
        }
    }
}

/// What `capstan declick` did, for its report.
#[derive(Debug, Clone, Serialize)]
pub struct DeclickOutcome {
    pub input: String,
    pub output: String,
    pub sample_rate: u32,
    pub bits_per_sample: u32,
    pub channels: usize,
    pub frames: FrameCount,
    pub duration: Timecode,
    /// Sensitivity and counts, as in the QC report's `access_copy.declick`.
    #[serde(flatten)]
    pub declick: DeclickReport,
    /// Every repaired region: channel, position, length and size.
    pub repairs: Vec<Defect>,
}

/// The samples of a WAV or FLAC file, whichever it is (by its first bytes, not its name).
enum Input {
    Wav(WavReader<BufReader<File>>),
    Flac(FlacReader),
}

impl Input {
    fn open(path: &Path) -> Result<Input, RestoreError> {
        let mut magic = [0u8; 4];
        // A FIFO or a device is refused before it is read (it could block forever).
        let mut f = crate::archive::confined::open_regular_source(path).map_err(|source| {
            RestoreError::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        })?;
        let _ = io::Read::read(&mut f, &mut magic);
        Ok(if &magic == b"fLaC" {
            Input::Flac(FlacReader::open(path)?)
        } else {
            Input::Wav(WavReader::open(path)?)
        })
    }

    /// (channels, rate, bits, frames)
    fn shape(&self) -> (usize, u32, u32, u64) {
        match self {
            Input::Wav(r) => {
                let i = r.info();
                (
                    usize::from(i.channels),
                    i.sample_rate,
                    u32::from(i.valid_bits),
                    i.frames.0,
                )
            }
            Input::Flac(r) => {
                let i = r.info();
                (
                    i.channels as usize,
                    i.sample_rate,
                    i.bits_per_sample,
                    i.total_frames,
                )
            }
        }
    }

    fn read(&mut self, out: &mut [i32]) -> Result<usize, RestoreError> {
        Ok(match self {
            Input::Wav(r) => {
                let channels = usize::from(r.info().channels);
                r.read_frames(out)? * channels
            }
            Input::Flac(r) => r.read(out)?,
        })
    }
}

/// Where the repaired samples go: a WAV (RIFF, or RF64 past 4 GiB) or a FLAC file.
enum Output {
    Wav {
        out: BufWriter<File>,
        width: usize,
        packed: Vec<u8>,
    },
    Flac(Box<MasterEncoder>),
}

/// Declicks `input` (WAV or FLAC) into `output` (format from its extension, `.wav` or
/// `.flac`), at the input's rate, depth and channels. The output is written beside its final
/// name, synced, and renamed into place only when complete; an existing file is never
/// replaced.
pub fn declick_file(
    input: &Path,
    output: &Path,
    settings: &DeclickSettings,
) -> Result<DeclickOutcome, RestoreError> {
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let flac = match ext.as_deref() {
        Some("flac") => true,
        Some("wav") => false,
        _ => {
            return Err(RestoreError::Format {
                path: output.to_path_buf(),
                detail: "the output's name must end in .wav or .flac".into(),
            })
        }
    };
    if output.symlink_metadata().is_ok() {
        return Err(RestoreError::Exists {
            path: output.to_path_buf(),
        });
    }
    let mut reader = Input::open(input)?;
    let (channels, rate, bits, frames) = reader.shape();
    let io_at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Io { path, source }
    };
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = output.file_name().unwrap_or_default().to_string_lossy();
    let partial = dir.join(format!(".{name}.{}.partial", std::process::id()));
    // The partial file goes whatever happens below, unless it became the output.
    struct Cleanup<'a>(&'a Path, bool);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = std::fs::remove_file(self.0);
            }
        }
    }
    let mut cleanup = Cleanup(&partial, false);
    let input_name = input
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let processing = format!(
        "declicked by Capstan {} (AR model; sensitivity {}) from {input_name}",
        env!("CARGO_PKG_VERSION"),
        settings.sensitivity
    );
    let container_bits = bits.div_ceil(8) * 8;
    let mut sink = if flac {
        let spec = StreamSpec {
            channels: channels as u32,
            bits_per_sample: bits,
            sample_rate: rate,
            total_frames: frames,
            compression_level: 5,
            threads: 1,
        };
        let meta = MasterMetadata {
            comments: vec![
                ("PROCESSING".into(), processing.clone()),
                (
                    "ENCODER".into(),
                    format!(
                        "Capstan {} (libFLAC {})",
                        env!("CARGO_PKG_VERSION"),
                        crate::flac::libflac_version()
                    ),
                ),
            ],
            riff_chunks: Vec::new(),
            padding: 8192,
            seek_every_seconds: 10,
        };
        Output::Flac(Box::new(MasterEncoder::create(&partial, spec, &meta)?))
    } else {
        let f = File::create_new(&partial).map_err(io_at(&partial))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        let width = (container_bits / 8) as usize;
        let data = frames * channels as u64 * width as u64;
        out.write_all(&riff::wav_header(
            channels as u16,
            rate,
            container_bits as u16,
            data,
            false,
        ))
        .map_err(io_at(&partial))?;
        Output::Wav {
            out,
            width,
            packed: Vec::new(),
        }
    };
    // Samples of a depth that is not a whole number of bytes sit left-justified in the WAV's
    // container, as the WAV rules ask.
    let shift = container_bits - bits;
    let repairs = derive(
        channels,
        rate,
        bits,
        &Processing {
            declick: Some(settings.clone()),
            gain_db: 0.0,
        },
        |buf| reader.read(buf),
        |block| match &mut sink {
            Output::Flac(enc) => enc.write(block).map_err(RestoreError::from),
            Output::Wav { out, width, packed } => {
                pack_le(block, shift, *width, packed);
                out.write_all(packed).map_err(io_at(&partial))
            }
        },
    )
    .map_err(|e| match e {
        DeriveError::Declick(source) => RestoreError::Declick {
            path: input.to_path_buf(),
            source,
        },
        DeriveError::Io(e) => e,
    })?;
    match sink {
        Output::Flac(enc) => {
            enc.finish()?;
        }
        Output::Wav { out, .. } => {
            let f = out
                .into_inner()
                .map_err(|e| io_at(&partial)(e.into_error()))?;
            f.sync_all().map_err(io_at(&partial))?;
        }
    }
    crate::archive::rename_no_replace(&partial, output).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            RestoreError::Exists {
                path: output.to_path_buf(),
            }
        } else {
            io_at(output)(e)
        }
    })?;
    cleanup.1 = true;
    Ok(DeclickOutcome {
        input: input.display().to_string(),
        output: output.display().to_string(),
        sample_rate: rate,
        bits_per_sample: bits,
        channels,
        frames: FrameCount(frames),
        duration: FrameCount(frames).timecode(rate),
        declick: DeclickReport::of(settings.sensitivity, &repairs),
        repairs: repair_defects(&repairs, rate, usize::MAX),
    })
}

/// `samples`, shifted left by `shift`, as `width`-byte little-endian PCM into `packed`. The
/// common widths get a fixed-size copy each: a copy of a length known only at run time is a
/// library call per sample, which cost more than the decoding.
fn pack_le(samples: &[i32], shift: u32, width: usize, packed: &mut Vec<u8>) {
    fn pack<const W: usize>(samples: &[i32], shift: u32, packed: &mut Vec<u8>) {
        packed.clear();
        packed.resize(samples.len() * W, 0);
        for (o, &s) in packed.chunks_exact_mut(W).zip(samples) {
            let b = (s << shift).to_le_bytes();
            o.copy_from_slice(&b[..W]);
        }
    }
    match width {
        1 => pack::<1>(samples, shift, packed),
        2 => pack::<2>(samples, shift, packed),
        3 => pack::<3>(samples, shift, packed),
        _ => pack::<4>(samples, shift, packed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(samples: &[i32], channels: usize, processing: &Processing) -> (Vec<i32>, Vec<Repair>) {
        let mut at = 0;
        let mut out = Vec::new();
        let repairs = derive::<()>(
            channels,
            48_000,
            24,
            processing,
            |buf| {
                // Odd-sized reads: the result must not depend on them.
                let n = (samples.len() - at).min(buf.len()).min(channels * 777);
                buf[..n].copy_from_slice(&samples[at..at + n]);
                at += n;
                Ok(n)
            },
            |block| {
                out.extend_from_slice(block);
                Ok(())
            },
        )
        .unwrap();
        (out, repairs)
    }

    #[test]
    fn without_processing_every_sample_comes_through() {
        let samples: Vec<i32> = (0..2 * 100_001).map(|i| (i * 7919) % 8_000_000).collect();
        let none = Processing {
            declick: None,
            gain_db: 0.0,
        };
        assert_eq!(run(&samples, 2, &none).0, samples);
    }

    #[test]
    fn a_gain_scales_and_never_wraps() {
        let samples = vec![1000, -1000, 8_388_607, -8_388_608];
        let up = Processing {
            declick: None,
            gain_db: 20.0 * 2f64.log10(), // x2
        };
        assert_eq!(
            run(&samples, 1, &up).0,
            vec![2000, -2000, 8_388_607, -8_388_608]
        );
    }

    #[test]
    fn loudness_gain_is_limited_by_the_true_peak_ceiling() {
        assert_eq!(
            loudness_gain(-23.0, Some(-30.0), Some(-10.0)),
            Some((7.0, false))
        );
        let (g, limited) = loudness_gain(-23.0, Some(-30.0), Some(-4.0)).unwrap();
        assert!(limited && (g - 3.0).abs() < 1e-12, "{g}");
        assert_eq!(
            loudness_gain(-23.0, Some(-16.0), Some(0.5)),
            Some((-7.0, false))
        );
        assert_eq!(loudness_gain(-23.0, None, None), None);
    }
}
