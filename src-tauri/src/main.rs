//! `capstan-station`: the desktop app, a thin shell over the `capstan` library. Each command
//! calls the library and hands its answer to the page as JSON; errors cross as
//! `{code, message}` ([`Failure`]); live data (meters, verification progress, the watcher's
//! events) goes over a `tauri::ipc::Channel` the page opens when it is ready. The page never
//! names a file: items are named as `capstan log` names them and the library resolves and
//! checks them; the archive is the one the CLI would use (`$CAPSTAN_ARCHIVE`, else
//! `./archive`, or `--archive DIR`).
//!
//! Tauri runs a command that is not `async` on the main (window) thread, so every command that
//! touches a file is `async` and does its work on a blocking thread ([`blocking`]); the few
//! left synchronous only flip a flag or start a thread. Every file the library opens for the
//! app goes through the archive's confined opener. Numbers from the page (a take's length,
//! widths, page sizes) are checked here before they reach the library.

// No console window on Windows release builds (the app has its own window).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(test)]
mod bindings;
mod failure;
mod listen;
mod live;

use capstan::archive::item_id::ItemId;
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
    /// Set while a verification runs: one at a time.
    verifying: Arc<AtomicBool>,
    /// The playback running, if any.
    playback: listen::PlaySlot,
}

type Answer<T> = Result<T, Failure>;

#[derive(Serialize, ts_rs::TS)]
struct DeviceInfo {
    name: String,
    description: String,
}

/// Everything the page needs to start.
#[derive(Serialize, ts_rs::TS)]
struct StationInfo {
    archive: PathBuf,
    agent: String,
    profiles: Vec<capstan::profile::Summary>,
    devices: Vec<DeviceInfo>,
    default_device: String,
    /// Why interfaces could not be listed (the demo tape is still there).
    device_error: Option<String>,
    /// Metadata fields in the order the masters carry them.
    field_order: &'static [&'static str],
    /// Output devices to listen on (the host's default first, as `default`).
    outputs: Vec<DeviceInfo>,
    /// The archive's replicas (`capstan replica add`), or why they could not be read.
    replicas: Vec<capstan::replica::ReplicaSettings>,
    replicas_error: Option<String>,
    /// Whether a shared catalogue is named (`$CAPSTAN_CATALOGUE`): the archive view then
    /// shows it.
    shared_catalogue: bool,
}

#[tauri::command]
async fn station(st: State<'_, Station>) -> Answer<StationInfo> {
    let archive = st.archive.root.clone();
    blocking(move || station_info(archive)).await?
}

fn station_info(archive: PathBuf) -> Answer<StationInfo> {
    let profiles = capstan::profile::shipped_summaries()?;
    let settings = capstan::archive::settings::read(&Archive::new(&archive));
    let replicas_error = settings.as_ref().err().map(ToString::to_string);
    let replicas = settings.map(|s| s.replicas).unwrap_or_default();
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
        archive,
        agent: capstan::ingest::agent(),
        profiles,
        devices,
        default_device: capstan::capture::device::default_input_name(),
        device_error,
        field_order: capstan::metadata::FIELD_ORDER,
        outputs: std::iter::once(DeviceInfo {
            name: String::new(),
            description: "The system's default output".into(),
        })
        .chain(
            capstan::playback::output_devices()
                .into_iter()
                .map(|d| DeviceInfo {
                    description: if d.description.is_empty() {
                        d.id
                    } else {
                        format!("{} ({})", d.description, d.id)
                    },
                    name: d.name,
                }),
        )
        .collect(),
        replicas,
        replicas_error,
        shared_catalogue: shared_catalogue_url().is_some(),
    })
}

/// Seconds of recording the free disk allows at a shipped profile's data rate (null: the disk
/// cannot say), for the capture view before a take starts.
#[tauri::command]
async fn recording_room(st: State<'_, Station>, profile: String) -> Answer<Option<f64>> {
    let profile = shipped_profile(&profile)?;
    let archive = st.archive.clone();
    blocking(move || capstan::capture::recording_room(&archive, &profile)).await
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
#[derive(Serialize, ts_rs::TS)]
struct Interrupted {
    item: String,
    device: String,
    started: String,
    ended: Option<String>,
}

#[tauri::command]
async fn interrupted_takes(st: State<'_, Station>) -> Answer<Vec<Interrupted>> {
    let archive = st.archive.clone();
    let found = blocking(move || {
        archive.check_confined().map_err(Failure::archive)?;
        capstan::capture::journal::orphans(&archive.meta_dir().join("journal"))
            .map_err(Failure::journal)
    })
    .await??;
    Ok(found
        .into_iter()
        .map(|o| Interrupted {
            item: ItemId::known(&o.info.collection, &o.info.id).to_string(),
            device: o.info.device,
            started: o.info.started,
            ended: o.ended,
        })
        .collect())
}

/// What became of one interrupted take.
#[derive(Serialize, ts_rs::TS)]
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
    if let Some(s) = take.seconds {
        take_frames(s, profile.sample_rate)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let req = CaptureRequest::new(
        capstan::capture::TakeRequest {
            profile_arg: take.profile,
            collection: take.collection,
            id: take.id,
            meta: Fields(take.meta),
            device: take.device,
            seconds: take.seconds,
            buffer: None,
        },
        profile,
        st.archive.clone(),
        Arc::clone(&stop),
    )
    .map_err(|e| Failure::new("bad_number", e.to_string()))?;
    *running = Some(stop);
    let app = live::Capture::new(events, Arc::clone(&st.capture), Arc::clone(&st.pending));
    std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || app.run(&req))
        .map_err(|e| Failure::new("thread", e.to_string()))?;
    Ok(())
}

/// The longest take the page may ask for: a day (longer than any carrier; the disk check
/// refuses what the disk cannot hold).
const MAX_TAKE_SECONDS: f64 = 24.0 * 3600.0;

/// A take's length from the page, in frames: finite, more than nothing, at most
/// [`MAX_TAKE_SECONDS`].
fn take_frames(seconds: f64, rate: u32) -> Answer<u64> {
    if seconds > MAX_TAKE_SECONDS {
        return Err(Failure::new(
            "bad_number",
            format!(
                "a take's length must be more than 0 and at most {MAX_TAKE_SECONDS} seconds, not {seconds}"
            ),
        ));
    }
    capstan::capture::take_frames(seconds, rate)
        .map_err(|e| Failure::new("bad_number", e.to_string()))
}

/// The widest waveform overview the page may ask for (columns).
const MAX_BUCKETS: usize = 1 << 16;

/// A waveform's width from the page: 1 to [`MAX_BUCKETS`].
fn buckets_in_range(buckets: usize) -> Answer<usize> {
    if buckets == 0 || buckets > MAX_BUCKETS {
        return Err(Failure::new(
            "bad_number",
            format!("a waveform is 1 to {MAX_BUCKETS} columns wide, not {buckets}"),
        ));
    }
    Ok(buckets)
}

/// The most events one page of the event log may ask for.
const MAX_EVENTS_PAGE: u32 = 10_000;

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
#[derive(Serialize, ts_rs::TS)]
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
    // Sent to the archive's auto replicas in the background: what cannot go yet stays queued
    // for the next approval, `capstan replicate` or the watcher.
    let archive = st.archive.clone();
    std::thread::spawn(move || {
        if let Err(e) = capstan::replica::queue::drain(&archive, 4) {
            eprintln!("capstan-station: the replication queue was not sent (it is kept): {e}");
        }
    });
    Ok(Approved {
        item,
        bag: outcome.ingest.bag,
        warnings: outcome.ingest.warnings,
    })
}

/// Discards the reviewed take: its staged item and its journal are removed.
#[tauri::command]
async fn discard_take(st: State<'_, Station>, item: String) -> Answer<()> {
    let take = pending_take(&st, &item)?;
    blocking(move || take.discard()).await
}

/// The waveform overview of the take waiting for review: each master's channels, in order,
/// `buckets` wide (per-channel layouts give one mono master per channel).
#[tauri::command]
async fn take_overview(
    st: State<'_, Station>,
    item: String,
    buckets: usize,
) -> Answer<Vec<capstan::review::Waveform>> {
    let buckets = buckets_in_range(buckets)?;
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
async fn archive_report(st: State<'_, Station>) -> Answer<ArchiveReport> {
    let archive = st.archive.clone();
    blocking(move || Ok(Catalogue::open(&archive)?.report()?)).await?
}

#[tauri::command]
async fn item_detail(st: State<'_, Station>, item: String) -> Answer<capstan::item::ItemView> {
    let archive = st.archive.clone();
    blocking(move || Ok(capstan::item::item_view(&archive, &item)?)).await?
}

/// The waveform overview of an archived item's first take, read back from its masters.
#[tauri::command]
async fn item_overview(
    st: State<'_, Station>,
    item: String,
    buckets: usize,
) -> Answer<Vec<capstan::review::Waveform>> {
    let buckets = buckets_in_range(buckets)?;
    let archive = st.archive.clone();
    Ok(blocking(move || capstan::item::item_overview(&archive, &item, buckets)).await??)
}

/// One page of the archive's events, newest first: `limit` (1 to [`MAX_EVENTS_PAGE`]) after
/// the `offset` newest (default 0). Paged in the catalogue's query.
#[tauri::command]
async fn event_log(
    st: State<'_, Station>,
    limit: u32,
    offset: Option<u64>,
) -> Answer<Vec<capstan::archive::events::Event>> {
    if limit == 0 || limit > MAX_EVENTS_PAGE {
        return Err(Failure::new(
            "bad_number",
            format!("a page of the event log holds 1 to {MAX_EVENTS_PAGE} events, not {limit}"),
        ));
    }
    let archive = st.archive.clone();
    blocking(move || Ok(Catalogue::open(&archive)?.recent_events(limit, offset.unwrap_or(0))?))
        .await?
}

/// What the page asks to hear: lane `lane` of the take waiting for review (`pending`) or of an
/// archived item's overview, from frame `from`.
#[derive(Deserialize)]
struct PlayWhat {
    item: String,
    pending: bool,
    lane: usize,
    from: u64,
    listen: capstan::playback::Listen,
    /// An output device's name; the system's default when empty or absent.
    device: Option<String>,
    /// Gain of the difference signal, dB (0 to [`MAX_DIFFERENCE_GAIN_DB`]; default
    /// [`DIFFERENCE_GAIN_DB`]).
    difference_gain_db: Option<f64>,
}

/// What was removed is usually far below the programme: heard 24 dB up by default.
const DIFFERENCE_GAIN_DB: f64 = 24.0;
const MAX_DIFFERENCE_GAIN_DB: f64 = 48.0;

/// Plays a master (and its access copy, for A/B and the difference) from a point; the play
/// head comes over `events`. Whatever was playing stops first.
#[tauri::command]
async fn play(
    st: State<'_, Station>,
    what: PlayWhat,
    events: Channel<listen::PlayMsg>,
) -> Answer<listen::Playing> {
    let gain = what.difference_gain_db.unwrap_or(DIFFERENCE_GAIN_DB);
    if !(0.0..=MAX_DIFFERENCE_GAIN_DB).contains(&gain) {
        return Err(Failure::new(
            "bad_number",
            format!("the difference is heard 0 to {MAX_DIFFERENCE_GAIN_DB} dB up, not {gain}"),
        ));
    }
    let pending = if what.pending {
        let held = st.pending.lock().expect("not poisoned");
        let Some((_, take)) = held.as_ref().filter(|(name, _)| *name == what.item) else {
            return Err(Failure::new(
                "no_pending_take",
                format!("no take of {} is waiting for review", what.item),
            ));
        };
        let report = take.prepared.report();
        let first = report
            .takes
            .first()
            .ok_or_else(|| Failure::new("playback", "the take has no master"))?;
        Some(
            capstan::playback::listenables(take.prepared.bag_dir(), first)
                .map_err(|e| Failure::new("playback", e))?,
        )
    } else {
        None
    };
    let archive = st.archive.clone();
    let slot = Arc::clone(&st.playback);
    blocking(move || {
        let lane = what.lane;
        let found = match pending {
            Some(all) => all
                .into_iter()
                .find(|l| l.lanes.contains(&lane))
                .ok_or_else(|| {
                    Failure::new("playback", format!("the take has no channel {}", lane + 1))
                })?,
            None => capstan::item::item_listenable(&archive, &what.item, lane)?,
        };
        let req = capstan::playback::PlayRequest {
            master: found.master,
            copy: found.copy,
            from: capstan::units::FrameIndex(what.from),
            device: what.device.filter(|d| !d.is_empty()),
            listen: what.listen,
            difference_gain_db: gain,
            buffer_seconds: capstan::playback::BUFFER_SECONDS,
        };
        listen::start(&slot, req, found.lanes, events)
    })
    .await?
}

/// Switches what the playback plays (master, copy, difference), at the same position.
#[tauri::command]
async fn play_listen(st: State<'_, Station>, listen: capstan::playback::Listen) -> Answer<()> {
    let slot = Arc::clone(&st.playback);
    blocking(move || listen::listen(&slot, listen)).await?
}

/// Stops the playback; its `ended` comes over its channel.
#[tauri::command]
async fn stop_playback(st: State<'_, Station>) -> Answer<()> {
    let slot = Arc::clone(&st.playback);
    blocking(move || listen::stop(&slot)).await
}

/// The shared catalogue (`$CAPSTAN_CATALOGUE`, PostgreSQL) at a glance, as `capstan report
/// --catalogue` shows it: from any station, the work of every worker.
#[tauri::command]
async fn shared_catalogue() -> Answer<capstan::registry::Overview> {
    blocking(move || {
        let url = shared_catalogue_url().ok_or_else(|| {
            Failure::new(
                "no_shared_catalogue",
                "no shared catalogue: start the station with CAPSTAN_CATALOGUE=postgres://…",
            )
        })?;
        // The PostgreSQL client runs its own small runtime, which cannot be started on a
        // thread of the app's: it gets a plain thread.
        std::thread::spawn(move || {
            capstan::registry::Registry::connect(&url)
                .and_then(|mut r| r.overview(capstan::registry::DEFAULT_LEASE))
        })
        .join()
        .map_err(|_| Failure::new("thread", "the shared catalogue's reader panicked"))?
        .map_err(|e| Failure::new("shared_catalogue", e.to_string()))
    })
    .await?
}

fn shared_catalogue_url() -> Option<String> {
    std::env::var("CAPSTAN_CATALOGUE")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Audits every replica against the archive, file by file (the archive's files read, the
/// replicas' by their stored checksums), as `capstan audit` does; one at a time, with the
/// verifications.
#[tauri::command]
async fn audit_replicas(st: State<'_, Station>) -> Answer<capstan::replica::heal::AuditReport> {
    let turn = VerifyTurn::take(&st.verifying)?;
    let archive = st.archive.clone();
    blocking(move || {
        let _turn = turn;
        let replica = |e: capstan::replica::ReplicaError| Failure::new("replica", e.to_string());
        if capstan::replica::chosen(&archive, None)
            .map_err(replica)?
            .is_empty()
        {
            return Err(Failure::new(
                "no_replica",
                "the archive has no replica: `capstan replica add` names one",
            ));
        }
        capstan::replica::heal::audit_archive(&archive, 16)
            .map(|(report, _)| report)
            .map_err(replica)
    })
    .await?
}

/// Clears the station's "verifying" flag when a verification ends, however it ends.
struct VerifyTurn(Arc<AtomicBool>);

impl VerifyTurn {
    /// The turn to verify, or a `busy` failure while another verification runs.
    fn take(flag: &Arc<AtomicBool>) -> Answer<VerifyTurn> {
        flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| {
                Failure::new(
                    "busy",
                    "a verification is already running; wait for it to finish",
                )
            })?;
        Ok(VerifyTurn(Arc::clone(flag)))
    }
}

impl Drop for VerifyTurn {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
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
    let turn = VerifyTurn::take(&st.verifying)?;
    let archive = st.archive.clone();
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let report = blocking(move || {
        let _turn = turn;
        let path = match item {
            None => archive.root.clone(),
            Some(name) => capstan::item::item_view(&archive, &name)?.bag,
        };
        let observer = live::VerifyProgress::new(progress);
        let report = capstan::fixity::verify(
            &[path],
            capstan::fixity::Options {
                deep,
                jobs,
                shard: None,
            },
            &observer,
        );
        observer.finish();
        Ok::<_, Failure>(report?)
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
    // An item committed by a run that died before its events reached the log gets them now,
    // as every CLI command that writes to the archive does (`pending::replay`).
    match capstan::pending::replay(&archive) {
        Ok(done) => done
            .iter()
            .for_each(|r| eprintln!("capstan-station: {}", capstan::pending::describe(r))),
        Err(e) => eprintln!("capstan-station: {e}"),
    }
    // Shown in full in the app's header; the watcher needs it absolute anyway.
    let archive = Archive::new(std::fs::canonicalize(&archive.root).unwrap_or(archive.root));
    tauri::Builder::default()
        .manage(Station {
            archive,
            capture: Slot::default(),
            pending: Pending::default(),
            watcher: Slot::default(),
            verifying: Arc::default(),
            playback: listen::PlaySlot::default(),
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
            play,
            play_listen,
            stop_playback,
            audit_replicas,
            shared_catalogue,
        ])
        .run(tauri::generate_context!())
        .expect("the app's window could not be opened");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_take_length_from_the_page_must_be_finite_positive_and_at_most_a_day() {
        assert_eq!(take_frames(1.5, 48_000).unwrap(), 72_000);
        for bad in [
            f64::NAN,
            f64::INFINITY,
            -1.0,
            0.0,
            1e-9,
            MAX_TAKE_SECONDS + 1.0,
            1e300,
        ] {
            let e = take_frames(bad, 48_000).unwrap_err();
            assert_eq!(e.code, "bad_number", "{bad}");
            assert!(e.message.contains("take"), "{}", e.message);
        }
    }

    #[test]
    fn a_waveform_width_from_the_page_is_held_to_its_range() {
        assert_eq!(buckets_in_range(800).unwrap(), 800);
        assert_eq!(buckets_in_range(0).unwrap_err().code, "bad_number");
        assert_eq!(buckets_in_range(usize::MAX).unwrap_err().code, "bad_number");
    }

    #[test]
    fn only_one_verification_runs_at_a_time() {
        let flag = Arc::new(AtomicBool::new(false));
        let first = VerifyTurn::take(&flag).unwrap();
        let second = VerifyTurn::take(&flag).map(|_| ()).unwrap_err();
        assert_eq!(second.code, "busy");
        assert!(
            second.message.contains("already running"),
            "{}",
            second.message
        );
        drop(first);
        assert!(
            VerifyTurn::take(&flag).is_ok(),
            "the turn is free once the first ends"
        );
    }
}
