//! A real PostgreSQL 15 (Debian's) for the catalogue's tests: started once per test process,
//! as the `postgres` user, in a temporary folder, on a free loopback port; stopped when the
//! process exits. Each test's archive gets a schema of its own in one database.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

static SERVER: OnceLock<(PathBuf, u16)> = OnceLock::new();
static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

fn as_postgres(args: &[&str]) {
    let o = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runuser runs");
    assert!(
        o.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

extern "C" fn stop() {
    if let Some((dir, _)) = SERVER.get() {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-m", "immediate", "-w", "-t", "20", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn start() -> (PathBuf, u16) {
    assert!(
        Path::new(PG_BIN).join("initdb").is_file(),
        "PostgreSQL 15 is missing: scripts/setup.sh installs Debian's postgresql"
    );
    let dir = std::env::temp_dir().join(format!("capstan-unit-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let chown = Command::new("chown")
        .arg("postgres")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(chown.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = dir.join("data");
    as_postgres(&[
        &format!("{PG_BIN}/initdb"),
        "-D",
        data.to_str().unwrap(),
        "-U",
        "capstan",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
    ]);
    as_postgres(&[
        &format!("{PG_BIN}/pg_ctl"),
        "-D",
        data.to_str().unwrap(),
        "-l",
        dir.join("server.log").to_str().unwrap(),
        "-w",
        "-t",
        "60",
        "-o",
        &format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        ),
        "start",
    ]);
    // SAFETY: registers a plain function to run at exit; it only spawns pg_ctl.
    unsafe {
        libc::atexit(stop);
    }
    let o = Command::new(format!("{PG_BIN}/createdb"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "capstan"])
        .arg("capstan_test")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (dir, port)
}

/// The test server's database, started on first use.
pub(crate) fn url() -> String {
    let (_, port) = SERVER.get_or_init(start);
    format!("postgres://capstan@127.0.0.1:{port}/capstan_test")
}

/// A schema no other test uses.
pub(crate) fn fresh_schema() -> String {
    format!(
        "t{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, Ordering::SeqCst)
    )
}

/// Settings naming a fresh schema on the test server.
pub(crate) fn settings() -> super::CatalogueSettings {
    super::CatalogueSettings {
        url: url(),
        schema: fresh_schema(),
    }
}
