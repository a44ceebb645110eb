//! Embeds the page (`../ui/www`) and generates a permission for each of the app's own
//! commands (`allow-<command>`), so that `capabilities/main.json` can grant exactly those.

const COMMANDS: &[&str] = &[
    "station",
    "recording_room",
    "interrupted_takes",
    "recover_takes",
    "start_capture",
    "stop_capture",
    "approve_take",
    "discard_take",
    "take_overview",
    "archive_report",
    "item_detail",
    "item_overview",
    "event_log",
    "verify",
    "start_watcher",
    "stop_watcher",
    "play",
    "play_listen",
    "stop_playback",
    "audit_replicas",
    "shared_catalogue",
];

fn main() {
    // The page's scripts are compiled from TypeScript (`ui/`, `npm run build`); without them
    // the app would open on an empty page.
    if !std::path::Path::new("../ui/www/js/main.js").exists() {
        println!(
            "cargo::warning=ui/www/js/main.js is missing: build the page first (scripts/app.sh does, or `npm ci && npm run build` in ui/)"
        );
    }
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build");
}
