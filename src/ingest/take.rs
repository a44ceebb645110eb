//! Reading a take: opening and checking the source against the profile, the one read that
//! feeds analysis and the encoders, and the second read (access copy, click map) proved to
//! be the same samples.

use super::{interrupted, test_pause, IngestError, IngestRequest};
use crate::dsp::declick::Repair;
use crate::dsp::defects::{DefectAnalyser, DefectReport};
use crate::dsp::levels::{LevelAnalyser, LevelReport};
use crate::flac::encode::{EncodedMaster, MasterEncoder};
use crate::flac::hex;
use crate::profile::Profile;
use crate::report::MasterReport;
use crate::restore::{derive, DeriveError, Processing};
use crate::source::wav::{ForeignChunk, WavInfo, WavReader};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

/// Frames per block handed from the reader to the encoder and analyser.
pub(super) const BLOCK_FRAMES: usize = 16_384;

/// A take, opened and checked against the profile before any work starts.
pub(super) struct Take {
    pub(super) part: usize,
    pub(super) path: PathBuf,
    pub(super) info: WavInfo,
    /// Chunks after `data`, read ahead so that they can be written into the master's header.
    pub(super) trailing: Vec<ForeignChunk>,
}

/// Opens every take of the request and checks it against the profile, before any work starts.
pub(super) fn open_takes(req: &IngestRequest) -> Result<Vec<Take>, IngestError> {
    let mut takes = Vec::new();
    for (i, path) in req.sources.iter().enumerate() {
        let reader = WavReader::open(path)?;
        let info = reader.info().clone();
        check_against_profile(path, &info, &req.profile)?;
        let trailing = crate::source::wav::read_trailing_chunks(path, &info)?;
        takes.push(Take {
            part: i + 1,
            path: path.clone(),
            info,
            trailing,
        });
    }
    Ok(takes)
}

/// Every way the take differs from the profile, in one message.
pub(super) fn check_against_profile(
    path: &Path,
    info: &WavInfo,
    p: &Profile,
) -> Result<(), IngestError> {
    let mut differences = Vec::new();
    if info.sample_rate != p.sample_rate {
        differences.push(format!(
            "sample rate is {} Hz, the profile wants {} Hz",
            info.sample_rate, p.sample_rate
        ));
    }
    if u32::from(info.valid_bits) != p.bit_depth {
        differences.push(format!(
            "bit depth is {}, the profile wants {}",
            info.valid_bits, p.bit_depth
        ));
    }
    if usize::from(info.channels) != p.channels() {
        differences.push(format!(
            "{} channel(s), the profile wants {} ({})",
            info.channels,
            p.channels(),
            p.channel_names.join(", ")
        ));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(IngestError::Mismatch {
            path: path.to_path_buf(),
            profile: p.name.clone(),
            differences,
        })
    }
}

/// Reads the take's source again through [`derive`] into `write` (stopping when interrupted);
/// the repairs made. The samples read are proved to be the masters' own: their MD5, computed
/// as FLAC's STREAMINFO MD5 is (each sample little-endian in whole bytes; per channel for
/// per-channel masters), must equal each master's audio MD5, so a source changed between the
/// two reads fails the ingest before anything is committed.
pub(super) fn derive_from_take(
    req: &IngestRequest,
    take: &Take,
    masters: &[MasterReport],
    purpose: &'static str,
    processing: &Processing,
    write: impl FnMut(&[i32]) -> Result<(), IngestError> + Send,
) -> Result<Vec<Repair>, IngestError> {
    let info = &take.info;
    let channels = usize::from(info.channels);
    test_pause("reread");
    let mut reader = WavReader::open(&take.path)?;
    let bits = u32::from(info.valid_bits);
    let width = (bits as usize).div_ceil(8);
    let per_channel = masters.len() > 1;
    let mut hashers: Vec<md5::Md5> = (0..if per_channel { channels } else { 1 })
        .map(|_| md5::Md5::new())
        .collect();
    let mut bytes = Vec::new();
    let read = |buf: &mut [i32]| {
        if interrupted(req) {
            return Err(IngestError::Interrupted);
        }
        let n = reader.read_frames(buf)? * channels;
        let samples = &buf[..n];
        for (c, hasher) in hashers.iter_mut().enumerate() {
            bytes.clear();
            let (skip, step) = if per_channel { (c, channels) } else { (0, 1) };
            for s in samples.iter().skip(skip).step_by(step) {
                bytes.extend_from_slice(&s.to_le_bytes()[..width]);
            }
            hasher.update(&bytes);
        }
        Ok(n)
    };
    let repairs =
        derive(channels, info.sample_rate, bits, processing, read, write).map_err(|e| match e {
            DeriveError::Declick(source) => IngestError::Declick {
                path: take.path.clone(),
                source,
            },
            DeriveError::Io(e) => e,
        })?;
    reader.finish_discarding_chunks()?;
    for (hasher, master) in hashers.into_iter().zip(masters) {
        let md5 = hex(&hasher.finalize());
        if md5 != master.audio_md5 {
            return Err(IngestError::SourceChanged {
                path: take.path.clone(),
                purpose,
                detail: format!(
                    "audio MD5 {md5} on the second read, {} in the master {}",
                    master.audio_md5, master.file
                ),
            });
        }
    }
    Ok(repairs)
}

/// The clicks in a take, for the defect map of a profile that asks for them without a
/// declicked access copy: the declicker run over the source, its output discarded.
pub(super) fn map_clicks(
    req: &IngestRequest,
    take: &Take,
    masters: &[MasterReport],
) -> Result<Vec<Repair>, IngestError> {
    let settings = req.profile.access_copy.declick_settings();
    derive_from_take(
        req,
        take,
        masters,
        "the click map",
        &Processing {
            declick: Some(settings),
            gain_db: 0.0,
        },
        |_| Ok(()),
    )
}

/// What the one read of a take found and made.
pub(super) struct FirstRead {
    pub(super) levels: LevelReport,
    pub(super) defects: DefectReport,
    /// SHA-256 and length of the source file's bytes, as they were read.
    pub(super) source_sha256: [u8; 32],
    pub(super) source_bytes: u64,
    /// The masters, one an encoder, finished.
    pub(super) encoded: Vec<EncodedMaster>,
}

/// Reads the take once, feeding analysis and encoding on their own threads.
pub(super) fn stream_take(
    req: &IngestRequest,
    take: &Take,
    encoders: Vec<MasterEncoder>,
) -> Result<FirstRead, IngestError> {
    let profile = &req.profile;
    let channels = usize::from(take.info.channels);
    let bits = u32::from(take.info.valid_bits);
    let analysis_error = |source| IngestError::Analysis {
        path: take.path.clone(),
        source,
    };
    let rate = take.info.sample_rate;
    let analyser =
        LevelAnalyser::new(channels, rate, bits, &profile.analysis).map_err(analysis_error)?;
    let defects =
        DefectAnalyser::new(channels, rate, bits, &profile.analysis).map_err(analysis_error)?;
    let sha = Arc::new(Mutex::new((Sha256::new(), 0u64)));
    let tap_sha = Arc::clone(&sha);
    let mut reader = WavReader::open_with_tap(
        &take.path,
        Box::new(move |bytes: &[u8]| {
            let mut s = tap_sha.lock().expect("hash lock");
            s.0.update(bytes);
            s.1 += bytes.len() as u64;
        }),
    )?;
    let (to_analysis, from_reader_a) = sync_channel::<Arc<Vec<i32>>>(4);
    let (to_encoder, from_reader_e) = sync_channel::<Arc<Vec<i32>>>(4);
    std::thread::scope(|scope| {
        let analysis = scope.spawn(move || {
            let (mut analyser, mut defects) = (analyser, defects);
            for block in from_reader_a {
                analyser.process(&block);
                defects.process(&block);
            }
            (analyser.finish(), defects.finish())
        });
        let encoding = scope.spawn(move || encode_blocks(encoders, from_reader_e, channels));
        test_pause("reading");
        let read_result = (|| -> Result<(), IngestError> {
            loop {
                if interrupted(req) {
                    return Err(IngestError::Interrupted);
                }
                let mut block = vec![0i32; BLOCK_FRAMES * channels];
                let frames = reader.read_frames(&mut block)?;
                if frames == 0 {
                    break;
                }
                block.truncate(frames * channels);
                let block = Arc::new(block);
                // A closed channel means that side failed; its error is reported below.
                if to_analysis.send(Arc::clone(&block)).is_err() || to_encoder.send(block).is_err()
                {
                    break;
                }
            }
            Ok(())
        })();
        drop(to_analysis);
        drop(to_encoder);
        let (levels, found) = analysis.join().expect("analysis thread");
        let encoded = encoding.join().expect("encoder thread");
        read_result?;
        let encoded = encoded?;
        // The chunks after `data` were read before the transfer (`Take::trailing`).
        reader.finish_discarding_chunks()?;
        let (hasher, bytes) = std::mem::take(&mut *sha.lock().expect("hash lock"));
        Ok(FirstRead {
            levels,
            defects: found,
            source_sha256: hasher.finalize().into(),
            source_bytes: bytes,
            encoded,
        })
    })
}

/// The encoder side of the first read: each block to the one encoder, or split into its
/// channels for per-channel masters; the masters finished. After a failure the blocks are
/// drained, so that the reader never blocks on a dead encoder.
fn encode_blocks(
    mut encoders: Vec<MasterEncoder>,
    blocks: Receiver<Arc<Vec<i32>>>,
    channels: usize,
) -> Result<Vec<EncodedMaster>, IngestError> {
    let mut planes: Vec<Vec<i32>> = vec![Vec::new(); if encoders.len() > 1 { channels } else { 0 }];
    let mut failed = None;
    for block in blocks {
        if failed.is_some() {
            continue; // drain, so the reader never blocks on a dead encoder
        }
        let result = if encoders.len() == 1 {
            encoders[0].write(&block)
        } else {
            deinterleave(&block, &mut planes);
            encoders
                .iter_mut()
                .zip(&planes)
                .try_for_each(|(e, p)| e.write(p))
        };
        if let Err(e) = result {
            failed = Some(e);
        }
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    encoders
        .into_iter()
        .map(|e| e.finish().map_err(IngestError::from))
        .collect()
}

/// Splits interleaved frames into one plane per channel.
fn deinterleave(block: &[i32], planes: &mut [Vec<i32>]) {
    let channels = planes.len();
    for (c, plane) in planes.iter_mut().enumerate() {
        plane.clear();
        plane.extend(block.iter().skip(c).step_by(channels));
    }
}
