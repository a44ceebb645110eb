//! `capstan-station`: the desktop app, a thin shell over the `capstan` library. Each command
//! calls the library and hands its answer to the page as JSON; errors cross as
//! `{code, message}` ([`Failure`]); live data (meters, verification progress, the watcher's
//! events) goes over a `tauri::ipc::Channel` the page opens when it is ready. The page never
//! names a file: items are named as `capstan log` names them and the library resolves and
//! checks them; the archive is the one the CLI would use (`$CAPSTAN_ARCHIVE`, else
//! `./archive`, or `--archive DIR`).

// No console window on Windows release builds (the app has its own window).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod failure;
mod live;

use capstan::archive::Archive;
use capstan::capture::{CaptureRequest, DEMO_DEVICE};
use capstan::catalogue::{ArchiveReport, Catalogue};
use capstan::metadata::Fields;
use capstan::profile::{Profile, SHIPPED};
use failure::Failure;
use live::{CaptureMsg, Pending, Slot, VerifyMsg, WatchMsg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::State;

/// What the app holds between commands.
struct Station {
    archive: Archive,
    /// The take being captured: its stop flag.
    capture: Slot,
    /// The take waiting for review.
    pending: Pending,
    /// The watcher, while it runs: its stop flag.
    watcher: Slot,
}

type Answer<T> = Result<T, Failure>;

/// A shipped profile, with what the capture form needs.
#[derive(Serialize)]
struct ProfileInfo {
    name: &'static str,
    carrier: String,
    sample_rate: u32,
    bit_depth: u32,
    channels: Vec<String>,
    per_channel: bool,
    required: Vec<String>,
    defaults: BTreeMap<String, String>,
    access_copy: bool,
    declick: bool,
}

#[derive(Serialize)]
struct DeviceInfo {
    name: String,
    description: String,
}

/// Everything the page needs to start.
#[derive(Serialize)]
struct StationInfo {
    archive: PathBuf,
    agent: String,
    profiles: Vec<ProfileInfo>,
    devices: Vec<DeviceInfo>,
    default_device: String,
    /// Why interfaces could not be listed (the demo tape is still there).
    device_error: Option<String>,
    /// Metadata fields in the order the masters carry them.
    field_order: &'static [&'static str],
}

#[tauri::command]
fn station(st: State<Station>) -> Answer<StationInfo> {
    let mut profiles = Vec::new();
    for (name, _) in SHIPPED {
        let p = Profile::load(name)?;
        profiles.push(ProfileInfo {
            name,
            carrier: p.carrier_description,
            sample_rate: p.sample_rate,
            bit_depth: p.bit_depth,
            channels: p.channel_names,
            per_channel: p.layout == capstan::profile::Layout::PerChannel,
            required: p.required_metadata,
            defaults: p.default_metadata,
            access_copy: p.access_copy.enabled,
            declick: p.access_copy.declick,
        });
    }
    let mut devices = vec![DeviceInfo {
        name: DEMO_DEVICE.into(),
        description: "Demo tape (built in: 96 kHz stereo, line-up tone, programme, defects)".into(),
    }];
    let listed = capstan::capture::device::input_devices();
    let device_error = listed.as_ref().err().map(ToString::to_string);
    devices.extend(listed.unwrap_or_default().into_iter().map(|d| DeviceInfo {
        description: format!("{} ({})", d.description, d.host),
        name: d.name,
    }));
    Ok(StationInfo {
        archive: st.archive.root.clone(),
        agent: capstan::ingest::agent(),
        profiles,
        devices,
        default_device: capstan::capture::device::default_input_name(),
        device_error,
        field_order: capstan::metadata::FIELD_ORDER,
    })
}

/// Seconds of recording the free disk allows at a shipped profile's data rate (null: the disk
/// cannot say), for the capture view before a take starts.
#[tauri::command]
fn recording_room(st: State<Station>, profile: String) -> Answer<Option<f64>> {
    let profile = shipped_profile(&profile)?;
    Ok(capstan::capture::recording_room(&st.archive, &profile))
}

/// A shipped profile by name: a name from the page never becomes a path to read.
fn shipped_profile(name: &str) -> Answer<Profile> {
    if !SHIPPED.iter().any(|(n, _)| *n == name) {
        return Err(Failure::new(
            "unknown_profile",
            format!("no shipped profile {name:?}"),
        ));
    }
    Ok(Profile::load(name)?)
}

/// A take whose capture died, waiting for `recover`.
#[derive(Serialize)]
struct Interrupted {
    item: String,
    device: String,
    started: String,
    ended: Option<String>,
}

#[tauri::command]
fn interrupted_takes(st: State<Station>) -> Answer<Vec<Interrupted>> {
    let dir = st.archive.meta_dir().join("journal");
    let found = capstan::capture::journal::orphans(&dir).map_err(Failure::journal)?;
    Ok(found
        .into_iter()
        .map(|o| Interrupted {
            item: format!("{}/{}", o.info.collection, o.info.id),
            device: o.info.device,
            started: o.info.started,
            ended: o.ended,
        })
        .collect())
}

/// What became of one interrupted take.
#[derive(Serialize)]
struct RecoveredTake {
    item: String,
    bag: Option<PathBuf>,
    frames: Option<u64>,
    error: Option<String>,
}

#[tauri::command]
async fn recover_takes(st: State<'_, Station>) -> Answer<Vec<RecoveredTake>> {
    let archive = st.archive.clone();
    let done = blocking(move || capstan::capture::recover(&archive)).await??;
    Ok(done
        .into_iter()
        .map(|r| match r.outcome {
            Ok((o, frames)) => RecoveredTake {
                item: r.item,
                bag: Some(o.bag),
                frames: Some(frames),
                error: None,
            },
            Err(e) => RecoveredTake {
                item: r.item,
                bag: None,
                frames: None,
                error: Some(e),
            },
        })
        .collect())
}

/// A take as the page asks for it.
#[derive(Deserialize)]
struct TakeRequest {
    device: String,
    profile: String,
    collection: String,
    id: String,
    meta: BTreeMap<String, String>,
    /// Stop after this many seconds (none: until stopped).
    seconds: Option<f64>,
}

/// Starts a take; its meters, warnings and end come over `events`.
#[tauri::command]
fn start_capture(st: State<Station>, take: TakeRequest, events: Channel<CaptureMsg>) -> Answer<()> {
    let profile = shipped_profile(&take.profile)?;
    let mut running = st.capture.lock().expect("not poisoned");
    if running.is_some() {
        return Err(Failure::new("busy", "a take is already being captured"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let req = CaptureRequest {
        duration: take
            .seconds
            .map(|s| (s * f64::from(profile.sample_rate)).round() as u64),
        profile,
        profile_arg: take.profile,
        id: take.id,
        collection: take.collection,
        meta: Fields(take.meta),
        archive: st.archive.clone(),
        device: take.device,
        buffer: None,
        stop: Arc::clone(&stop),
        now: capstan::ingest::transfer_time(),
    };
    *running = Some(stop);
    let app = live::Capture::new(events, Arc::clone(&st.capture), Arc::clone(&st.pending));
    std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || app.run(&req))
        .map_err(|e| Failure::new("thread", e.to_string()))?;
    Ok(())
}

/// Ends the take being captured (it is then finished; its end comes over its channel).
#[tauri::command]
fn stop_capture(st: State<Station>) {
    if let Some(stop) = st.capture.lock().expect("not poisoned").as_ref() {
        stop.store(true, Ordering::Relaxed);
    }
}

/// The take waiting for review, if it is `item`.
fn pending_take(st: &Station, item: &str) -> Answer<capstan::capture::CapturedTake> {
    let mut pending = st.pending.lock().expect("not poisoned");
    match pending.take() {
        Some((name, take)) if name == item => Ok(take),
        other => {
            *pending = other;
            Err(Failure::new(
                "no_pending_take",
                format!("no take of {item} is waiting for review"),
            ))
        }
    }
}

/// A take approved: where it is in the archive.
#[derive(Serialize)]
struct Approved {
    item: String,
    bag: PathBuf,
    warnings: Vec<String>,
}

/// Approves the reviewed take: its staged item moves into the archive.
#[tauri::command]
async fn approve_take(st: State<'_, Station>, item: String) -> Answer<Approved> {
    let take = pending_take(&st, &item)?;
    let outcome = blocking(move || take.commit()).await??;
    Ok(Approved {
        item,
        bag: outcome.ingest.bag,
        warnings: outcome.ingest.warnings,
    })
}

/// Discards the reviewed take: its staged item and its journal are removed.
#[tauri::command]
fn discard_take(st: State<Station>, item: String) -> Answer<()> {
    pending_take(&st, &item)?.discard();
    Ok(())
}

/// The waveform overview of the take waiting for review: each master's channels, in order,
/// `buckets` wide (per-channel layouts give one mono master per channel).
#[tauri::command]
async fn take_overview(
    st: State<'_, Station>,
    item: String,
    buckets: usize,
) -> Answer<Vec<capstan::review::Waveform>> {
    let masters: Vec<PathBuf> = {
        let pending = st.pending.lock().expect("not poisoned");
        let Some((_, take)) = pending.as_ref().filter(|(name, _)| *name == item) else {
            return Err(Failure::new(
                "no_pending_take",
                format!("no take of {item} is waiting for review"),
            ));
        };
        let bag = take.prepared.bag_dir();
        take.prepared
            .report()
            .takes
            .iter()
            .flat_map(|t| t.masters.iter().map(|m| bag.join(&m.file)))
            .collect()
    };
    let waves = blocking(move || {
        masters
            .iter()
            .map(|m| capstan::review::overview(m, buckets))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    waves.map_err(|e| Failure::new("overview", e.to_string()))
}

#[tauri::command]
fn archive_report(st: State<Station>) -> Answer<ArchiveReport> {
    Ok(Catalogue::open(&st.archive)?.report()?)
}

#[tauri::command]
fn item_detail(st: State<Station>, item: String) -> Answer<capstan::item::ItemView> {
    Ok(capstan::item::item_view(&st.archive, &item)?)
}

/// The waveform overview of an archived item's first take, read back from its masters.
#[tauri::command]
async fn item_overview(
    st: State<'_, Station>,
    item: String,
    buckets: usize,
) -> Answer<Vec<capstan::review::Waveform>> {
    let archive = st.archive.clone();
    Ok(blocking(move || capstan::item::item_overview(&archive, &item, buckets)).await??)
}

/// The latest `limit` events of the archive, newest first.
#[tauri::command]
fn event_log(st: State<Station>, limit: usize) -> Answer<Vec<capstan::archive::events::Event>> {
    let mut events = Catalogue::open(&st.archive)?.history(None)?;
    events.reverse();
    events.truncate(limit);
    Ok(events)
}

/// Verifies the whole archive, or one item (named as `capstan log` names it), recording the
/// outcome as `capstan verify` does; progress comes over `progress`.
#[tauri::command]
async fn verify(
    st: State<'_, Station>,
    item: Option<String>,
    deep: bool,
    progress: Channel<VerifyMsg>,
) -> Answer<capstan::fixity::VerifyReport> {
    let path = match item {
        None => st.archive.root.clone(),
        Some(name) => {
            let view = capstan::item::item_view(&st.archive, &name)?;
            view.bag
        }
    };
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let report = blocking(move || {
        let observer = live::VerifyProgress::new(progress);
        let report =
            capstan::fixity::verify(&[path], capstan::fixity::Options { deep, jobs }, &observer);
        observer.finish();
        report
    })
    .await??;
    Ok(report)
}

/// Starts the watcher (rolling verification every 30 days, at most 50 MB/s so that it never
/// competes with a capture), or hands the running one a new channel.
#[tauri::command]
fn start_watcher(st: State<Station>, events: Channel<WatchMsg>) -> Answer<()> {
    let mut running = st.watcher.lock().expect("not poisoned");
    if running.is_some() {
        return Err(Failure::new("busy", "the watcher is already running"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    *running = Some(Arc::clone(&stop));
    let (archive, slot) = (st.archive.clone(), Arc::clone(&st.watcher));
    std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || live::watch(&archive, stop, events, slot))
        .map_err(|e| Failure::new("thread", e.to_string()))?;
    Ok(())
}

/// Stops the watcher; it says `stopped` over its channel once it has.
#[tauri::command]
fn stop_watcher(st: State<Station>) {
    if let Some(stop) = st.watcher.lock().expect("not poisoned").as_ref() {
        stop.store(true, Ordering::Relaxed);
    }
}

/// Runs blocking library work off the IPC threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Answer<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| Failure::new("thread", e.to_string()))
}

/// `--archive DIR`, else `$CAPSTAN_ARCHIVE`, else `./archive` (as the CLI).
fn archive_dir() -> PathBuf {
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--archive" {
            if let Some(dir) = args.next() {
                return PathBuf::from(dir);
            }
        }
    }
    std::env::var_os("CAPSTAN_ARCHIVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("archive"))
}

fn main() {
    let archive = Archive::new(archive_dir());
    if let Err(e) = archive.prepare_for_writing() {
        eprintln!("capstan-station: {e}");
        std::process::exit(2);
    }
    // Shown in full in the app's header; the watcher needs it absolute anyway.
    let archive = Archive::new(std::fs::canonicalize(&archive.root).unwrap_or(archive.root));
    tauri::Builder::default()
        .manage(Station {
            archive,
            capture: Slot::default(),
            pending: Pending::default(),
            watcher: Slot::default(),
        })
        .invoke_handler(tauri::generate_handler![
            station,
            recording_room,
            interrupted_takes,
            recover_takes,
            start_capture,
            stop_capture,
            approve_take,
            discard_take,
            take_overview,
            archive_report,
            item_detail,
            item_overview,
            event_log,
            verify,
            start_watcher,
            stop_watcher,
        ])
        .run(tauri::generate_context!())
        .expect("the app's window could not be opened");
}
