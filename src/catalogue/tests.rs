//! The catalogue's tests: schema, recording, queries and reindex, on real SQLite files.

use super::*;
use crate::archive::bag::{write_tag_files, PayloadFile};
use sha2::{Digest, Sha256};

fn event(item: &str, kind: &str, file: Option<&str>, outcome: &str, n: usize) -> Event {
    Event {
        copy: None,
        date_time: format!("2026-01-01T00:00:{:02}Z", n % 60),
        event_type: kind.into(),
        item: item.into(),
        file: file.map(str::to_string),
        outcome: outcome.into(),
        detail: format!("detail {n}"),
        agent: "capstan test".into(),
    }
}

fn item(collection: &str, id: &str, files: &[(&str, &str)]) -> ItemRecord {
    ItemRecord {
        collection: collection.into(),
        id: id.into(),
        bag_path: format!("{collection}/{id}"),
        profile: Some("dat".into()),
        bagging_date: Some("2026-01-01".into()),
        payload_oxum: Some(format!("{}.{}", files.len() * 10, files.len())),
        audio_seconds: Some(1.5),
        needs_listen: None,
        files: files
            .iter()
            .map(|(path, sha)| FileRecord {
                path: path.to_string(),
                bytes: Some(10),
                sha256: sha.to_string(),
                audio_md5: None,
                status: FileStatus::Present,
            })
            .collect(),
    }
}

/// A bag at `root/collection/id` holding these payload files.
fn make_bag(root: &Path, collection: &str, id: &str, files: &[(&str, &[u8])]) {
    let bag = root.join(collection).join(id);
    std::fs::create_dir_all(bag.join("data")).unwrap();
    let payload: Vec<PayloadFile> = files
        .iter()
        .map(|(name, bytes)| {
            std::fs::write(bag.join(name), bytes).unwrap();
            PayloadFile {
                path: name.to_string(),
                sha256: Sha256::digest(bytes).into(),
                bytes: bytes.len() as u64,
            }
        })
        .collect();
    write_tag_files(
        &bag,
        &payload,
        &[
            ("Bagging-Date", "2026-01-02".into()),
            ("Capstan-Profile", "dat".into()),
        ],
        &[],
    )
    .unwrap();
}

fn sha(b: &[u8]) -> String {
    crate::flac::hex(&Sha256::digest(b))
}

/// The engine a test's catalogue runs on: the archive's own SQLite file, or a schema of its
/// own on the test process's PostgreSQL ([`super::test_pg`]).
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// An archive at `root` whose catalogue is on this engine.
    fn archive(self, root: &Path) -> Archive {
        let archive = Archive::new(root);
        if let Backend::Postgres = self {
            std::fs::create_dir_all(archive.meta_dir()).unwrap();
            crate::archive::settings::set_catalogue(&archive, Some(test_pg::settings())).unwrap();
        }
        archive
    }

    /// Damages the catalogue: garbage for a file; for PostgreSQL, a table gone.
    fn damage(self, archive: &Archive) {
        match self {
            Backend::Sqlite => std::fs::write(catalogue_path(archive), vec![0x5Au8; 8192]).unwrap(),
            Backend::Postgres => pg_batch(archive, "DROP TABLE files"),
        }
    }

    /// Removes the catalogue: the file, or the schema.
    fn remove(self, archive: &Archive) {
        match self {
            Backend::Sqlite => std::fs::remove_file(catalogue_path(archive)).unwrap(),
            Backend::Postgres => {
                let s = backend(archive).unwrap().unwrap();
                pg_batch(archive, &format!("DROP SCHEMA \"{}\" CASCADE", s.schema))
            }
        }
    }
}

/// Runs SQL on the archive's PostgreSQL catalogue, behind its back.
fn pg_batch(archive: &Archive, sql: &str) {
    let s = backend(archive).unwrap().unwrap();
    let mut c = postgres::Client::connect(&s.url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("SET search_path TO \"{}\"; {sql}", s.schema))
        .unwrap();
}

/// A test run on both engines: `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(super::Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name(super::Backend::Postgres)
            }
        }
    )*};
}

on_both!(
    a_path_listed_twice_is_registered_once_as_last_listed,
    registering_twice_updates_the_item_and_its_files,
    events_come_back_in_order_and_set_the_files_states,
    items_are_found_by_full_name_or_unambiguous_bare_id,
    two_writers_at_once_never_see_a_locked_database,
    reindex_rebuilds_items_files_events_and_states_from_the_archive,
    reindex_gives_the_file_states_that_recording_gave,
    events_recorded_during_a_reindex_are_not_lost,
);

#[test]
fn a_new_catalogue_has_the_versioned_schema_in_wal_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Archive::new(tmp.path());
    let cat = Catalogue::open(&archive).unwrap();
    assert_eq!(cat.path(), archive.meta_dir().join("catalogue.sqlite"));
    assert_eq!(cat.versions().unwrap(), (SCHEMA_VERSION, APPLICATION_ID));
    let conn = cat.conn.sqlite().unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
    let mut names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .filter(|n: &String| !n.starts_with("sqlite_"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "events",
            "events_item",
            "files",
            "files_last_checked",
            "files_sha256",
            "items"
        ]
    );
    drop(cat);
    // Opening again keeps it as it is.
    let again = Catalogue::open(&archive).unwrap();
    assert_eq!(again.history(None).unwrap(), []);
}

fn registering_twice_updates_the_item_and_its_files(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = b.archive(tmp.path());
    let mut cat = Catalogue::open(&archive).unwrap();
    let first = item("c", "i", &[("data/a.flac", "aa"), ("data/b.flac", "bb")]);
    cat.register_item(&first).unwrap();
    cat.register_item(&first).unwrap();
    assert!(cat
        .set_file_checked(
            "c/i",
            "data/a.flac",
            "2026-02-01T00:00:00Z",
            &Outcome::Pass,
            "ok"
        )
        .unwrap());
    assert!(cat
        .set_file_checked(
            "c/i",
            "data/b.flac",
            "2026-02-01T00:00:00Z",
            &Outcome::Pass,
            "ok"
        )
        .unwrap());
    // Re-registered: a's digest unchanged, b's changed, c new, nothing else.
    let mut second = item("c", "i", &[("data/a.flac", "aa"), ("data/b.flac", "b2")]);
    second.files.push(FileRecord {
        path: "data/c.json".into(),
        bytes: None,
        sha256: "cc".into(),
        audio_md5: None,
        status: FileStatus::Missing,
    });
    second.profile = Some("lacquer-disc".into());
    cat.register_item(&second).unwrap();
    let items = cat.items().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].profile.as_deref(), Some("lacquer-disc"));
    assert_eq!(items[0].files, 3);
    assert_eq!(items[0].bytes, 20);
    let a = cat.file_by_path("c/i", "data/a.flac").unwrap().unwrap();
    assert_eq!(a.last_outcome.as_ref().map(Outcome::as_str), Some("pass"));
    let b = cat.file_by_path("c/i", "data/b.flac").unwrap().unwrap();
    assert_eq!((b.sha256.as_str(), b.last_checked), ("b2", None));
    let c = cat.file_by_path("c/i", "data/c.json").unwrap().unwrap();
    assert_eq!((c.status, c.bytes), (FileStatus::Missing, None));
    // A file the bag no longer lists is dropped.
    cat.register_item(&item("c", "i", &[("data/a.flac", "aa")]))
        .unwrap();
    assert!(cat.file_by_path("c/i", "data/b.flac").unwrap().is_none());
    assert_eq!(cat.items().unwrap()[0].files, 1);
}

fn events_come_back_in_order_and_set_the_files_states(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = b.archive(tmp.path());
    let mut cat = Catalogue::open(&archive).unwrap();
    cat.register_item(&item(
        "c",
        "i",
        &[("data/a.flac", "AA"), ("data/b.flac", "bb")],
    ))
    .unwrap();
    cat.register_item(&item("d", "i", &[("data/a.flac", "aa")]))
        .unwrap();
    cat.register_item(&item("d", "j", &[("data/j.flac", "jj")]))
        .unwrap();
    let evs = vec![
        event("c/i", "ingestion", None, "pass", 1),
        event("d/i", "ingestion", None, "pass", 2),
        event("c/i", "fixity check", Some("data/a.flac"), "pass", 3),
        event("c/i", "fixity check", Some("data/b.flac"), "fail", 4),
        event("d/i", "move", Some("data/a.flac"), "warning", 5),
    ];
    cat.record(&evs).unwrap();
    assert_eq!(cat.history(None).unwrap(), evs);
    // Paged newest first, in the query.
    let newest: Vec<Event> = evs.iter().rev().cloned().collect();
    assert_eq!(cat.recent_events(2, 0).unwrap(), newest[..2]);
    assert_eq!(cat.recent_events(2, 3).unwrap(), newest[3..]);
    assert!(cat.recent_events(2, 9).unwrap().is_empty());
    let ci: Vec<Event> = evs.iter().filter(|e| e.item == "c/i").cloned().collect();
    assert_eq!(cat.history(Some("c/i")).unwrap(), ci);
    // events.jsonl got them too, first.
    let log = std::fs::read_to_string(archive.meta_dir().join("events.jsonl")).unwrap();
    assert_eq!(log.lines().count(), evs.len());

    let a = cat.file_by_path("c/i", "data/a.flac").unwrap().unwrap();
    assert_eq!(a.last_checked.as_deref(), Some("2026-01-01T00:00:03Z"));
    let b = cat.file_by_path("c/i", "data/b.flac").unwrap().unwrap();
    assert_eq!(
        (
            b.last_outcome.as_ref().map(Outcome::as_str),
            b.last_detail.as_deref()
        ),
        (Some("fail"), Some("detail 4"))
    );
    let moved = cat.file_by_path("d/i", "data/a.flac").unwrap().unwrap();
    assert_eq!(moved.status, FileStatus::Moved);
    // Digests are matched whatever their case.
    let same: Vec<String> = cat
        .files_by_digest("aa")
        .unwrap()
        .into_iter()
        .map(|f| f.item)
        .collect();
    assert_eq!(same, ["d/i"]);
    assert_eq!(cat.files_by_digest("AA").unwrap().len(), 1);
    // Never checked first, then oldest; moved files are not scheduled.
    let due: Vec<String> = cat
        .least_recently_checked(10)
        .unwrap()
        .into_iter()
        .map(|f| format!("{}:{}", f.item, f.path))
        .collect();
    assert_eq!(
        due,
        ["d/j:data/j.flac", "c/i:data/a.flac", "c/i:data/b.flac"]
    );
    assert_eq!(cat.least_recently_checked(1).unwrap().len(), 1);
    assert!(cat
        .set_file_status("d/i", "data/a.flac", FileStatus::Present)
        .unwrap());
    assert!(!cat
        .set_file_status("d/i", "data/none.flac", FileStatus::Present)
        .unwrap());

    let report = cat.report().unwrap();
    assert_eq!(report.summary.items, 3);
    assert_eq!(report.summary.open_problems, 1);
    assert_eq!(report.summary.never_verified, 2);
    let ci = &report.items[0];
    assert_eq!(ci.item, "c/i");
    assert_eq!(ci.last_verification.as_ref().unwrap().outcome, "fail");
    assert_eq!(ci.problems.len(), 1);
    assert_eq!(ci.problems[0].path, "data/b.flac");
}

fn items_are_found_by_full_name_or_unambiguous_bare_id(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = b.archive(tmp.path());
    let mut cat = Catalogue::open(&archive).unwrap();
    for (c, i) in [("c", "a_1"), ("c", "shared"), ("d", "shared")] {
        cat.register_item(&item(c, i, &[])).unwrap();
    }
    cat.record(&[event("gone/old", "deletion", None, "pass", 1)])
        .unwrap();
    let r = |n: &str| cat.resolve_item(n);
    assert_eq!(r("c/a_1").unwrap().as_deref(), Some("c/a_1"));
    assert_eq!(r("a_1").unwrap().as_deref(), Some("c/a_1"));
    assert_eq!(r("a%1").unwrap(), None);
    assert_eq!(r("A_1").unwrap(), None);
    assert_eq!(r("old").unwrap().as_deref(), Some("gone/old"));
    assert_eq!(r("d/shared").unwrap().as_deref(), Some("d/shared"));
    assert_eq!(r("nope").unwrap(), None);
    match r("shared") {
        Err(CatalogueError::Ambiguous { candidates, .. }) => {
            assert_eq!(candidates, ["c/shared", "d/shared"])
        }
        other => panic!("{other:?}"),
    }
}

fn two_writers_at_once_never_see_a_locked_database(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = b.archive(tmp.path());
    Catalogue::open(&archive).unwrap();
    let per_thread = 150;
    std::thread::scope(|s| {
        for t in 0..2 {
            let archive = archive.clone();
            s.spawn(move || {
                let mut cat = Catalogue::open(&archive).unwrap();
                let name = format!("c/t{t}");
                for n in 0..per_thread {
                    cat.register_item(&item("c", &format!("t{t}"), &[("data/x", "x")]))
                        .unwrap();
                    cat.record(&[event(&name, "fixity check", Some("data/x"), "pass", n)])
                        .unwrap();
                    // A reader in between, on its own connection.
                    assert_eq!(cat.history(Some(&name)).unwrap().len(), n + 1);
                }
            });
        }
        // A third process-like user opening and reading throughout.
        s.spawn(|| {
            for _ in 0..50 {
                let cat = Catalogue::open(&archive).unwrap();
                cat.report().unwrap();
            }
        });
    });
    let cat = Catalogue::open(&archive).unwrap();
    assert_eq!(cat.history(None).unwrap().len(), 2 * per_thread);
    let log = std::fs::read_to_string(archive.meta_dir().join("events.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2 * per_thread);
}

fn open_err(archive: &Archive) -> CatalogueError {
    Catalogue::open(archive).unwrap_err()
}

#[test]
fn damaged_catalogues_are_reported_never_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Archive::new(tmp.path());
    let path = catalogue_path(&archive);
    let mut cat = Catalogue::open(&archive).unwrap();
    for n in 0..200 {
        cat.register_item(&item(
            "c",
            &format!("i{n}"),
            &[("data/a", "aa"), ("data/b", "bb")],
        ))
        .unwrap();
    }
    drop(cat); // checkpoints the WAL into the file
    let good = std::fs::read(&path).unwrap();
    assert!(good.len() > 3 * 4096);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage",
            (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("empty", Vec::new()),
        ("cut inside the header", good[..50].to_vec()),
        ("cut mid-page", good[..good.len() - 100].to_vec()),
        ("cut at a page", good[..2 * 4096].to_vec()),
        ("header zeroed", {
            let mut b = good.clone();
            b[..100].fill(0);
            b
        }),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = open_err(&archive);
        assert!(
            matches!(err, CatalogueError::Corrupt { .. }),
            "{what}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("capstan reindex"),
            "{what}: {msg}"
        );
        // Still the damaged bytes: nothing was recreated over them.
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}");
    }
    // Damage inside a table: found by the query that reads it.
    let mut b = good.clone();
    let last_page = b.len() - 4096;
    b[last_page..].fill(0xA5);
    std::fs::write(&path, &b).unwrap();
    let found = Catalogue::open(&archive).and_then(|c| c.report().map(|_| ()));
    assert!(
        matches!(found, Err(CatalogueError::Corrupt { .. })),
        "{found:?}"
    );
}

#[test]
fn foreign_newer_and_missing_catalogues_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Archive::new(tmp.path());
    let path = catalogue_path(&archive);
    std::fs::create_dir_all(archive.meta_dir()).unwrap();
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    assert!(matches!(open_err(&archive), CatalogueError::Corrupt { .. }));
    std::fs::remove_file(&path).unwrap();
    Catalogue::open(&archive).unwrap();
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    assert!(matches!(
        open_err(&archive),
        CatalogueError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1
    ));
    // Gone from an archive that holds items: reported, not silently started afresh.
    for f in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{f}", path.display()));
    }
    std::fs::create_dir_all(tmp.path().join("c/i")).unwrap();
    let err = open_err(&archive);
    assert!(matches!(err, CatalogueError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("capstan reindex"));
    assert!(!path.exists());
    assert!(matches!(
        Catalogue::open(&Archive::new(tmp.path().join("none"))).unwrap_err(),
        CatalogueError::NoArchive { .. }
    ));
}

#[test]
fn a_catalogue_that_cannot_be_opened_still_gets_the_events_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Archive::new(tmp.path());
    std::fs::create_dir_all(archive.meta_dir()).unwrap();
    std::fs::write(catalogue_path(&archive), b"not a database at all, no").unwrap();
    let evs = [event("c/i", "ingestion", None, "pass", 1)];
    let err = record(&archive, Some(&item("c", "i", &[])), &evs).unwrap_err();
    assert!(matches!(
        err,
        RecordError::Catalogue(CatalogueError::Corrupt { .. })
    ));
    let log = std::fs::read_to_string(archive.meta_dir().join("events.jsonl")).unwrap();
    let back: Event = serde_json::from_str(log.trim()).unwrap();
    assert_eq!(back, evs[0]);
}

/// A QC report written by release 0.1.0 (a captured take), changed by `edit`.
fn qc_report(edit: impl FnOnce(&mut serde_json::Value)) -> QcReport {
    QcReport::read(&crate::report::sample_qc_json(edit)).unwrap()
}

#[test]
fn why_an_item_needs_a_listen_is_read_from_its_qc_report() {
    let one = qc_report(|v| {
        v["takes"][0]["capture"]["flagged"] = true.into();
        v["takes"][0]["capture"]["ended"] = "interrupted (recovered from its journal)".into();
        v["takes"][0]["capture"]["gaps"] = serde_json::json!([]);
    });
    assert_eq!(
        qc_needs_listen(&one).as_deref(),
        Some("interrupted (recovered from its journal)")
    );
    let two = qc_report(|v| {
        let mut second = v["takes"][0].clone();
        v["takes"][0]["capture"]["flagged"] = false.into();
        v["takes"][0]["capture"]["gaps"] = serde_json::json!([]);
        second["capture"]["flagged"] = true.into();
        second["capture"]["ended"] = "stopped".into();
        let gap = serde_json::json!({"kind": "xrun", "channel": null, "start": 10,
            "start_time": "00:00:00.000", "length": 0, "length_time": "00:00:00.000"});
        second["capture"]["gaps"] = serde_json::json!([gap.clone(), gap]);
        v["takes"].as_array_mut().unwrap().push(second);
    });
    assert_eq!(
        qc_needs_listen(&two).as_deref(),
        Some("take 2: stopped; 2 gaps of lost samples")
    );
    // Ingested files (no capture) and clean captures need nothing.
    let ingested = qc_report(|v| {
        v["takes"][0].as_object_mut().unwrap().remove("capture");
    });
    assert_eq!(qc_needs_listen(&ingested), None);
    let clean = qc_report(|v| {
        v["takes"][0]["capture"]["flagged"] = false.into();
        v["takes"][0]["capture"]["gaps"] = serde_json::json!([]);
    });
    assert_eq!(qc_needs_listen(&clean), None);
    assert!(QcReport::read(b"not json").is_err());
}

#[test]
fn a_version_1_catalogue_learns_which_items_need_a_listen() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let archive = Archive::new(root);
    Catalogue::open(&archive).unwrap();
    let qc = crate::report::sample_qc_json(|v| {
        let t = &mut v["takes"][0];
        t["source"]["frames"] = 48_000.into();
        t["source"]["sample_rate"] = 48_000.into();
        t["capture"]["flagged"] = true.into();
        t["capture"]["ended"] = "device error: no samples for 5 s".into();
        t["capture"]["gaps"] = serde_json::json!([{"kind": "xrun", "channel": null, "start": 0,
            "start_time": "00:00:00.000", "length": 0, "length_time": "00:00:00.000"}]);
    });
    make_bag(root, "c", "i", &[("data/i.qc.json", &qc)]);
    make_bag(root, "c", "j", &[("data/j_pm.flac", b"clean")]);
    let mut cat = Catalogue::open(&archive).unwrap();
    for id in ["i", "j"] {
        let rel = Path::new("c").join(id);
        let rec = item_from_bag(&root.join(&rel), &rel, &mut ReindexSummary::default()).unwrap();
        cat.register_item(&rec).unwrap();
    }
    let listen = |cat: &Catalogue| -> Vec<Option<String>> {
        cat.items()
            .unwrap()
            .into_iter()
            .map(|i| i.needs_listen)
            .collect()
    };
    let expected = vec![
        Some("device error: no samples for 5 s; 1 gap of lost samples".to_string()),
        None,
    ];
    assert_eq!(listen(&cat), expected);
    assert_eq!(cat.report().unwrap().summary.needs_listen, 1);
    // Back to what version 1 wrote: no column, user_version 1.
    cat.conn
        .batch(
            "ALTER TABLE items DROP COLUMN needs_listen;
             ALTER TABLE files DROP COLUMN audio_md5; PRAGMA user_version = 1;",
        )
        .unwrap();
    drop(cat);
    let cat = Catalogue::open(&archive).unwrap();
    assert_eq!(cat.versions().unwrap().0, SCHEMA_VERSION);
    assert_eq!(listen(&cat), expected);
}

#[test]
fn a_version_2_catalogue_learns_the_masters_audio_md5_from_the_qc_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let archive = Archive::new(root);
    Catalogue::open(&archive).unwrap();
    let md5 = "00112233445566778899aabbccddeeff";
    let qc = crate::report::sample_qc_json(|v| {
        let t = &mut v["takes"][0];
        t["source"]["frames"] = 48_000.into();
        t["source"]["sample_rate"] = 48_000.into();
        t["masters"][0]["file"] = "data/i_pm.flac".into();
        t["masters"][0]["audio_md5"] = md5.to_uppercase().into();
    });
    make_bag(
        root,
        "c",
        "i",
        &[("data/i.qc.json", &qc), ("data/i_pm.flac", b"x")],
    );
    let mut cat = Catalogue::open(&archive).unwrap();
    let rel = Path::new("c/i");
    let rec = item_from_bag(&root.join(rel), rel, &mut ReindexSummary::default()).unwrap();
    cat.register_item(&rec).unwrap();
    let md5s = |cat: &Catalogue| -> Vec<(String, Option<String>)> {
        cat.known_items("c").unwrap().remove(0).files
    };
    let expected = vec![
        ("data/i.qc.json".to_string(), None),
        ("data/i_pm.flac".to_string(), Some(md5.to_string())),
    ];
    assert_eq!(md5s(&cat), expected);
    // Back to what version 2 wrote: no column, user_version 2.
    cat.conn
        .batch("ALTER TABLE files DROP COLUMN audio_md5; PRAGMA user_version = 2;")
        .unwrap();
    drop(cat);
    // Even a read-only open upgrades it, on writable media.
    let cat = Catalogue::open_read_only(&archive).unwrap();
    assert_eq!(cat.versions().unwrap().0, SCHEMA_VERSION);
    assert_eq!(md5s(&cat), expected);
}

fn reindex_rebuilds_items_files_events_and_states_from_the_archive(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let archive = b.archive(root);
    Catalogue::open(&archive).unwrap(); // before the first item, as ingest does
    let qc = crate::report::sample_qc_json(|v| {
        v["takes"][0].as_object_mut().unwrap().remove("capture");
        v["takes"][0]["source"]["frames"] = 96_000.into();
        v["takes"][0]["source"]["sample_rate"] = 48_000.into();
        let mut second = v["takes"][0].clone();
        second["source"]["frames"] = 24_000.into();
        v["takes"].as_array_mut().unwrap().push(second);
    });
    make_bag(
        root,
        "c",
        "i",
        &[("data/i_pm.flac", b"master"), ("data/i.qc.json", &qc)],
    );
    make_bag(root, "c", "j", &[("data/j_pm.flac", b"other")]);
    // Recorded live, as ingest and a watcher would.
    let mut live = Catalogue::open(&archive).unwrap();
    let evs = vec![
        event("c/i", "ingestion", None, "pass", 1),
        event("c/i", "fixity check", Some("data/i_pm.flac"), "fail", 2),
        event("c/j", "move", Some("data/j_pm.flac"), "warning", 3),
    ];
    live.record(&evs).unwrap();
    drop(live);
    // c/j's master really went; a line of the log was damaged; a hostile manifest line.
    std::fs::remove_file(root.join("c/j/data/j_pm.flac")).unwrap();
    let log = archive.meta_dir().join("events.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"truncated\": \n");
    std::fs::write(&log, text).unwrap();
    let mut manifest = std::fs::read_to_string(root.join("c/i/manifest-sha256.txt")).unwrap();
    manifest.push_str(&format!("{}  ../../etc/passwd\n", sha(b"x")));
    // A payload file replaced by a link is not followed.
    manifest.push_str(&format!("{}  data/link\n", sha(b"x")));
    std::os::unix::fs::symlink("/etc/passwd", root.join("c/i/data/link")).unwrap();
    std::fs::write(root.join("c/i/manifest-sha256.txt"), manifest).unwrap();
    // A bag that is not at collection/id, and a stale temp file from a crashed reindex.
    make_bag(root, "deep/er", "x", &[("data/x", b"x")]);
    std::fs::write(archive.meta_dir().join("catalogue.sqlite.reindex"), b"junk").unwrap();
    // The catalogue itself is garbage.
    b.damage(&archive);

    let s = reindex(&archive).unwrap();
    assert_eq!(
        (s.items, s.files, s.missing_files, s.events),
        (2, 4, 2, 3),
        "{s:?}"
    );
    assert_eq!(
        (s.skipped_event_lines, s.skipped_paths, s.skipped_bags),
        (1, 1, 1),
        "{s:?}"
    );
    assert!(!archive.meta_dir().join("catalogue.sqlite.reindex").exists());
    let cat = Catalogue::open(&archive).unwrap();
    assert_eq!(cat.history(None).unwrap(), evs);
    let items = cat.items().unwrap();
    let i = &items[0];
    assert_eq!(i.item, "c/i");
    assert_eq!(i.profile.as_deref(), Some("dat"));
    assert_eq!(i.bagging_date.as_deref(), Some("2026-01-02"));
    assert_eq!(i.audio_seconds, Some(2.5));
    assert_eq!(i.bytes, 6 + qc.len() as u64);
    let m = cat.file_by_path("c/i", "data/i_pm.flac").unwrap().unwrap();
    assert_eq!(m.sha256, sha(b"master"));
    assert_eq!(m.last_outcome.as_ref().map(Outcome::as_str), Some("fail"));
    let link = cat.file_by_path("c/i", "data/link").unwrap().unwrap();
    assert_eq!((link.status, link.bytes), (FileStatus::Missing, None));
    let j = cat.file_by_path("c/j", "data/j_pm.flac").unwrap().unwrap();
    assert_eq!(j.status, FileStatus::Moved);
    assert_eq!(cat.report().unwrap().summary.open_problems, 3);
    drop(cat);
    // Again, from a catalogue that is simply gone.
    b.remove(&archive);
    assert!(matches!(open_err(&archive), CatalogueError::Missing { .. }));
    assert_eq!(reindex(&archive).unwrap().events, 3);
    assert_eq!(
        Catalogue::open(&archive).unwrap().history(None).unwrap(),
        evs
    );
}

fn reindex_gives_the_file_states_that_recording_gave(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let archive = b.archive(root);
    let mut live = Catalogue::open(&archive).unwrap();
    make_bag(
        root,
        "c",
        "i",
        &[("data/a", b"a"), ("data/b", b"b"), ("data/m", b"m")],
    );
    make_bag(root, "c", "j", &[("data/x", b"x")]);
    let files = |bag: &str, names: &[&str]| -> Vec<FileRecord> {
        names
            .iter()
            .map(|n| {
                let path = format!("data/{n}");
                let bytes = std::fs::read(root.join(bag).join(&path)).unwrap();
                FileRecord {
                    sha256: sha(&bytes),
                    bytes: Some(bytes.len() as u64),
                    path,
                    audio_md5: None,
                    status: FileStatus::Present,
                }
            })
            .collect()
    };
    for (id, names) in [("i", &["a", "b", "m"][..]), ("j", &["x"][..])] {
        let mut rec = item("c", id, &[]);
        rec.files = files(&format!("c/{id}"), names);
        rec.payload_oxum = None;
        rec.audio_seconds = None;
        rec.profile = Some("dat".into());
        rec.bagging_date = Some("2026-01-02".into());
        live.register_item(&rec).unwrap();
    }
    live.record(&[
        event("c/i", "fixity check", Some("data/a"), "pass", 1),
        event("c/i", "fixity check", Some("data/b"), "fail", 2),
        event("c/i", "fixity check", Some("data/a"), "warning", 3),
        event("c/i", "move", Some("data/m"), "warning", 4),
        event("c/j", "fixity check", None, "pass", 5),
    ])
    .unwrap();
    std::fs::remove_file(root.join("c/i/data/m")).unwrap();
    let all = |c: &Catalogue| {
        c.files_where("1 = 1 ORDER BY i.item_id, f.path", &[])
            .unwrap()
    };
    let before = all(&live);
    drop(live);
    reindex(&archive).unwrap();
    let rebuilt = Catalogue::open(&archive).unwrap();
    let mut after = all(&rebuilt);
    // The moved file's size was known live; the rebuild found no file to measure.
    let m = after.iter_mut().find(|f| f.path == "data/m").unwrap();
    assert_eq!((m.status, m.bytes), (FileStatus::Moved, None));
    m.bytes = Some(1);
    assert_eq!(after, before);
    assert_eq!(
        rebuilt.items().unwrap()[1]
            .last_verification
            .as_ref()
            .unwrap()
            .outcome,
        "pass"
    );
}

fn events_recorded_during_a_reindex_are_not_lost(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = b.archive(tmp.path());
    Catalogue::open(&archive).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let recorded = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || n < 50 {
                record(
                    &archive,
                    None,
                    &[event("c/i", "fixity check", None, "pass", n)],
                )
                .unwrap();
                n += 1;
            }
            n
        });
        for _ in 0..5 {
            reindex(&archive).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap()
    });
    let cat = Catalogue::open(&archive).unwrap();
    let history = cat.history(None).unwrap();
    assert_eq!(history.len(), recorded);
    let details: Vec<String> = history.into_iter().map(|e| e.detail).collect();
    let want: Vec<String> = (0..recorded).map(|n| format!("detail {n}")).collect();
    assert_eq!(details, want);
}

#[test]
fn qc_durations_sum_the_takes() {
    let one = qc_report(|v| {
        v["takes"][0]["source"]["frames"] = 44_100.into();
        v["takes"][0]["source"]["sample_rate"] = 44_100.into();
    });
    assert_eq!(one.audio_seconds(), Some(1.0));
    let two = qc_report(|v| {
        v["takes"][0]["source"]["frames"] = 48_000.into();
        v["takes"][0]["source"]["sample_rate"] = 96_000.into();
        let t = v["takes"][0].clone();
        v["takes"].as_array_mut().unwrap().push(t);
    });
    assert_eq!(two.audio_seconds(), Some(1.0));
    let no_rate = qc_report(|v| v["takes"][0]["source"]["sample_rate"] = 0.into());
    assert_eq!(no_rate.audio_seconds(), None);
    assert!(QcReport::read(b"nope").is_err());
}

#[test]
fn the_migrations_are_consecutive_and_reach_the_schema_version() {
    let from: Vec<i64> = schema::MIGRATIONS.iter().map(|m| m.from).collect();
    assert_eq!(from, (1..SCHEMA_VERSION).collect::<Vec<_>>());
}

/// What a catalogue says, whole: its report, every event, every file with its state.
fn everything(archive: &Archive) -> (String, Vec<Event>, Vec<FileRow>) {
    let cat = Catalogue::open(archive).unwrap();
    let report = serde_json::to_string(&cat.report().unwrap()).unwrap();
    let files = cat
        .files_where("1 = 1 ORDER BY i.collection, i.item_id, f.path", &[])
        .unwrap();
    (report, cat.history(None).unwrap(), files)
}

#[test]
fn copy_moves_the_catalogue_to_postgres_and_back_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let archive = Archive::new(root);
    Catalogue::open(&archive).unwrap();
    make_bag(root, "c", "i", &[("data/a", b"a"), ("data/b", b"b")]);
    make_bag(root, "c", "j", &[("data/x", b"x")]);
    record(
        &archive,
        None,
        &[
            event("c/i", "ingestion", None, "pass", 1),
            event("c/i", "fixity check", Some("data/b"), "fail", 2),
            event("c/j", "move", Some("data/x"), "warning", 3),
        ],
    )
    .unwrap();
    reindex(&archive).unwrap();
    let before = everything(&archive);
    assert_eq!(before.1.len(), 3);

    let pg = test_pg::settings();
    let s = copy(&archive, Destination::Postgres(pg.clone())).unwrap();
    assert_eq!((s.items, s.files, s.events), (2, 3, 3));
    assert_eq!(
        crate::archive::settings::read(&archive).unwrap().catalogue,
        Some(pg.clone())
    );
    assert!(describe(&archive).starts_with("postgres://capstan@127.0.0.1:"));
    assert!(Catalogue::open(&archive).unwrap().is_shared());
    assert_eq!(everything(&archive), before);
    // What is recorded now goes to PostgreSQL (and the log), not to the old file.
    let old_file = std::fs::read(catalogue_path(&archive)).unwrap();
    record(
        &archive,
        None,
        &[event("c/i", "fixity check", Some("data/b"), "pass", 4)],
    )
    .unwrap();
    assert_eq!(std::fs::read(catalogue_path(&archive)).unwrap(), old_file);
    let on_pg = everything(&archive);
    assert_eq!(on_pg.1.len(), 4);
    // The identities carried over go on: the next event follows the copied ones.
    let cat = Catalogue::open(&archive).unwrap();
    assert_eq!(
        cat.last_event("c/i", Some("data/b"))
            .unwrap()
            .unwrap()
            .detail,
        "detail 4"
    );
    drop(cat);
    // A reindex on PostgreSQL gives what recording gave.
    reindex(&archive).unwrap();
    assert_eq!(everything(&archive), on_pg);
    // Copying to where it already is, is refused.
    assert!(copy(&archive, Destination::Postgres(pg)).is_err());

    // And back.
    let s = copy(&archive, Destination::Sqlite).unwrap();
    assert_eq!((s.items, s.files, s.events), (2, 3, 4));
    assert_eq!(
        crate::archive::settings::read(&archive).unwrap().catalogue,
        None
    );
    assert!(!Catalogue::open(&archive).unwrap().is_shared());
    assert_eq!(everything(&archive), on_pg);
    assert!(!archive.meta_dir().join("catalogue.sqlite.copy").exists());
}

#[test]
fn copy_never_replaces_another_archives_catalogue() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (Archive::new(a.path()), Archive::new(b.path()));
    let pg = test_pg::settings();
    for (archive, id) in [(&a, "i"), (&b, "j")] {
        make_bag(&archive.root, "c", id, &[("data/x", b"x")]);
        reindex(archive).unwrap();
    }
    copy(&a, Destination::Postgres(pg.clone())).unwrap();
    let err = copy(&b, Destination::Postgres(pg.clone())).unwrap_err();
    assert!(
        err.to_string().contains("already holds a catalogue"),
        "{err}"
    );
    // b is still on its own file, a's catalogue untouched.
    assert_eq!(crate::archive::settings::read(&b).unwrap().catalogue, None);
    let items = |x: &Archive| -> Vec<String> {
        Catalogue::open(x)
            .unwrap()
            .items()
            .unwrap()
            .into_iter()
            .map(|i| i.item)
            .collect()
    };
    assert_eq!(items(&a), ["c/i"]);
    assert_eq!(items(&b), ["c/j"]);
    // Beside it, in a schema of its own, the two archives share the database.
    let other = CatalogueSettings {
        schema: test_pg::fresh_schema(),
        ..pg
    };
    copy(&b, Destination::Postgres(other)).unwrap();
    assert_eq!(items(&a), ["c/i"]);
    assert_eq!(items(&b), ["c/j"]);
}

#[test]
fn a_postgres_catalogue_that_does_not_answer_is_unreachable_and_the_log_keeps_the_events() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Archive::new(tmp.path());
    std::fs::create_dir_all(archive.meta_dir()).unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pg = CatalogueSettings {
        url: format!("postgres://capstan@127.0.0.1:{port}/capstan_test"),
        schema: "station_1".into(),
    };
    crate::archive::settings::set_catalogue(&archive, Some(pg)).unwrap();
    let err = open_err(&archive);
    assert!(matches!(err, CatalogueError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("(schema station_1)"), "{err}");
    let evs = [event("c/i", "ingestion", None, "pass", 1)];
    let err = record(&archive, None, &evs).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::Catalogue(CatalogueError::Unreachable { .. })
        ),
        "{err:?}"
    );
    let log = std::fs::read_to_string(archive.meta_dir().join("events.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 1);
}

#[test]
fn a_postgres_catalogue_missing_from_an_archive_with_items_is_missing_until_reindexed() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Backend::Postgres.archive(tmp.path());
    make_bag(&archive.root, "c", "i", &[("data/x", b"x")]);
    assert!(matches!(open_err(&archive), CatalogueError::Missing { .. }));
    assert!(matches!(
        Catalogue::open_read_only(&archive).unwrap_err(),
        CatalogueError::Missing { .. }
    ));
    assert_eq!(reindex(&archive).unwrap().items, 1);
    let cat = Catalogue::open_read_only(&archive).unwrap();
    assert!(cat.is_shared());
    assert_eq!(cat.items().unwrap().len(), 1);
    // Read-only is read-only on PostgreSQL too.
    assert!(cat.conn.execute("DELETE FROM events", &[]).is_err());
}

#[test]
fn a_settings_file_with_a_password_or_a_bad_schema_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Archive::new(tmp.path());
    std::fs::create_dir_all(archive.meta_dir()).unwrap();
    let bad = |url: &str, schema: &str| {
        crate::archive::settings::set_catalogue(
            &archive,
            Some(CatalogueSettings {
                url: url.into(),
                schema: schema.into(),
            }),
        )
        .unwrap_err()
        .to_string()
    };
    assert!(bad("postgres://u:secret@h/db", "s").contains("PGPASSWORD"));
    assert!(bad("postgres://u@h/db", "Bad-Name").contains("lower-case"));
    assert!(bad("postgres://u@h/db", "pg_catalog").contains("pg_"));
    assert_eq!(schema_for(&Archive::new("/srv/Station-1")), "station_1");
    assert_eq!(schema_for(&Archive::new("/srv/2024")), "archive_2024");
}

fn a_path_listed_twice_is_registered_once_as_last_listed(b: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = b.archive(tmp.path());
    let mut cat = Catalogue::open(&archive).unwrap();
    // A hostile manifest: the same path twice, and many files (more than one statement).
    let mut files: Vec<(String, String)> = (0..2000)
        .map(|n| (format!("data/f{n:04}"), format!("{n:064x}")))
        .collect();
    files.push(("data/f0007".into(), "ab".repeat(32)));
    let listed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_str()))
        .collect();
    cat.register_item(&item("c", "i", &listed)).unwrap();
    assert_eq!(cat.items().unwrap()[0].files, 2000);
    let f = cat.file_by_path("c/i", "data/f0007").unwrap().unwrap();
    assert_eq!(f.sha256, "ab".repeat(32));
    // Checks of many files in one recording each land on their file.
    let evs: Vec<Event> = (0..2000)
        .map(|n| {
            event(
                "c/i",
                "fixity check",
                Some(&format!("data/f{n:04}")),
                "pass",
                n,
            )
        })
        .collect();
    cat.record(&evs).unwrap();
    let never = cat
        .files_where("f.last_checked IS NULL ORDER BY f.path", &[])
        .unwrap();
    assert!(never.is_empty(), "{never:?}");
    let f = cat.file_by_path("c/i", "data/f1999").unwrap().unwrap();
    assert_eq!(f.last_detail.as_deref(), Some("detail 1999"));
}
