//! Shared helpers for the integration tests: building WAV files of every shape (including
//! malformed ones), running the `capstan` binary, and the independent tools the archive is
//! checked with (flac, metaflac, ffmpeg, bagit.py). A missing tool fails the test with a message
//! saying how to install it: these checks are never skipped silently.
#![allow(dead_code)] // each test file uses a different subset

pub mod weed;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `n` distinct loopback ports that are free now (for the tests' S3 server and PostgreSQL),
/// drawn below the kernel's ephemeral range: a port the kernel hands out for outgoing
/// connections (any test's, any process's) could be taken between this check and the server's
/// bind, or while a stopped server is away.
pub fn free_ports(n: usize) -> Vec<u16> {
    let below = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (lo, hi) = (10_000u32, below.max(12_000));
    let mut state = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
        ^ (NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) << 32);
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        // xorshift64*: enough spread that parallel tests rarely draw the same port.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
        let port = (lo + (r as u32) % (hi - lo)) as u16;
        if !ports.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn capstan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_capstan"));
    c.env_remove("CAPSTAN_ARCHIVE");
    c.env("SOURCE_DATE_EPOCH", "1795000000");
    c
}

/// The python of the venv `scripts/setup.sh` makes (bagit.py, metsrw), whatever python comes
/// first on the PATH.
pub fn venv_python() -> PathBuf {
    let tools = std::env::var_os("CAPSTAN_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/capstan-tools")))
        .unwrap_or_default();
    let python = tools.join("venv/bin/python");
    assert!(
        python.is_file(),
        "{} is not installed: run scripts/setup.sh (the README's commands install it)",
        python.display()
    );
    python
}

/// Finds an external tool on PATH or in the venv `scripts/setup.sh` makes.
pub fn tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/capstan-tools/venv/bin"))
        .unwrap_or_default();
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for d in dirs.iter().chain(std::iter::once(&venv)) {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is not installed: run scripts/setup.sh (the README's commands install it)");
}

/// Sets `archive`'s institution once, as an archivist does before the first ingest
/// (`.capstan/archive.toml`, what `capstan institution --country GB --organisation "Test
/// Archive"` writes): every item's Originator is then `GB, Test Archive`. Creates the folders.
pub fn institution(archive: &Path) {
    let meta = archive.join(".capstan");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("archive.toml"),
        "[institution]\ncountry = \"GB\"\norganisation = \"Test Archive\"\n",
    )
    .unwrap();
}

/// flac 1.5, built once by `scripts/flac-1.5.sh` (Debian 12's flac is 1.4.2).
pub fn flac15() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/flac-1.5.sh");
    let o = run(Command::new("bash").arg(script));
    assert!(o.status.success(), "scripts/flac-1.5.sh: {}", text(&o));
    let path = String::from_utf8(o.stdout).unwrap();
    PathBuf::from(path.lines().last().unwrap().trim())
}

/// `flac -d --keep-foreign-metadata` of `master` into `out` with the given flac (Debian's, or
/// [`flac15`]) and any further options; the restore must succeed.
pub fn restore_with(flac: &Path, master: &Path, out: &Path, extra: &[&str]) {
    let o = run(Command::new(flac)
        .args(["-s", "-d", "-f", "--keep-foreign-metadata"])
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(master));
    assert!(o.status.success(), "{}: {}", flac.display(), text(&o));
}

/// `capstan ingest` of `files` (the takes, in order) into `archive` as `collection/id`, with
/// one `--meta` per entry of `meta`. Further flags (`--json`) may be added by the caller.
pub fn ingest_command(
    archive: &Path,
    profile: impl AsRef<std::ffi::OsStr>,
    id: &str,
    collection: &str,
    files: &[&Path],
    meta: &[&str],
) -> Command {
    let mut c = capstan();
    c.arg("ingest").arg("--profile").arg(profile);
    c.args(["--id", id, "--collection", collection]);
    c.arg("--archive").arg(archive);
    for m in meta {
        c.args(["--meta", m]);
    }
    c.args(files);
    c
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Waits (up to a minute) for a process under test to touch `mark`; `what` says what it
/// failed to reach.
pub fn wait_for_mark(mark: &Path, what: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !mark.exists() {
        assert!(std::time::Instant::now() < until, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("could not start command")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// How to build a WAV file.
#[derive(Clone, Debug)]
pub struct WavSpec {
    pub channels: u16,
    pub rate: u32,
    /// Meaningful bits.
    pub bits: u16,
    /// Bits per sample in the file (>= bits; samples left-justified in it).
    pub container_bits: u16,
    pub extensible: bool,
    pub rf64: bool,
    pub format_tag: u16,
    pub before: Vec<([u8; 4], Vec<u8>)>,
    pub after: Vec<([u8; 4], Vec<u8>)>,
}

impl WavSpec {
    pub fn pcm(channels: u16, rate: u32, bits: u16) -> WavSpec {
        WavSpec {
            channels,
            rate,
            bits,
            container_bits: bits,
            extensible: channels > 2 || bits > 16,
            rf64: false,
            format_tag: 1,
            before: Vec::new(),
            after: Vec::new(),
        }
    }
}

fn chunk(out: &mut Vec<u8>, id: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// The bytes of a WAV file holding `samples` (interleaved, right-justified at `spec.bits`).
pub fn wav_bytes(spec: &WavSpec, samples: &[i32]) -> Vec<u8> {
    let cb = spec.container_bits;
    let bytes = usize::from(cb / 8);
    let shift = cb - spec.bits;
    let mut data = Vec::with_capacity(samples.len() * bytes);
    for &s in samples {
        data.extend_from_slice(&(s << shift).to_le_bytes()[..bytes]);
    }
    let block_align = spec.channels * (cb / 8);
    let mut fmt = Vec::new();
    fmt.extend_from_slice(
        &(if spec.extensible {
            0xFFFEu16
        } else {
            spec.format_tag
        })
        .to_le_bytes(),
    );
    fmt.extend_from_slice(&spec.channels.to_le_bytes());
    fmt.extend_from_slice(&spec.rate.to_le_bytes());
    fmt.extend_from_slice(&(spec.rate * u32::from(block_align)).to_le_bytes());
    fmt.extend_from_slice(&block_align.to_le_bytes());
    fmt.extend_from_slice(&cb.to_le_bytes());
    if spec.extensible {
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&spec.bits.to_le_bytes());
        fmt.extend_from_slice(&0u32.to_le_bytes());
        fmt.extend_from_slice(&spec.format_tag.to_le_bytes());
        fmt.extend_from_slice(&[0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]);
    }
    let mut body = Vec::new();
    body.extend_from_slice(b"WAVE");
    if spec.rf64 {
        let mut ds64 = vec![0u8; 28];
        ds64[8..16].copy_from_slice(&(data.len() as u64).to_le_bytes());
        ds64[16..24]
            .copy_from_slice(&((samples.len() / usize::from(spec.channels)) as u64).to_le_bytes());
        chunk(&mut body, b"ds64", &ds64);
    }
    chunk(&mut body, b"fmt ", &fmt);
    for (id, d) in &spec.before {
        chunk(&mut body, id, d);
    }
    if spec.rf64 {
        body.extend_from_slice(b"data");
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        body.extend_from_slice(&data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    } else {
        chunk(&mut body, b"data", &data);
    }
    for (id, d) in &spec.after {
        chunk(&mut body, id, d);
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(if spec.rf64 { b"RF64" } else { b"RIFF" });
    let riff_len = if spec.rf64 {
        u32::MAX
    } else {
        body.len() as u32
    };
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(&body);
    if spec.rf64 {
        let total = out.len() as u64 - 8;
        // ds64 is the first chunk: its riffSize field sits at byte 20.
        out[20..28].copy_from_slice(&total.to_le_bytes());
    }
    out
}

/// Deterministic test signal: noise plus a sine, with full-scale extremes planted at the start.
pub fn signal(channels: u16, rate: u32, bits: u16, seconds: f64) -> Vec<i32> {
    let frames = (f64::from(rate) * seconds) as usize;
    let max = (1i64 << (bits - 1)) - 1;
    let min = -(1i64 << (bits - 1));
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(rate) ^ (u64::from(channels) << 32);
    let mut out = Vec::with_capacity(frames * usize::from(channels));
    for i in 0..frames {
        for c in 0..channels {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            let f = 220.0 * f64::from(c + 1);
            let s = 0.5 * (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(rate)).sin()
                + 0.2 * noise;
            let v = match i {
                0 => max,
                1 => min,
                _ => (s * max as f64).round() as i64,
            };
            out.push(v.clamp(min, max) as i32);
        }
    }
    out
}

pub fn write_wav(path: &Path, spec: &WavSpec, samples: &[i32]) {
    std::fs::write(path, wav_bytes(spec, samples)).unwrap();
}

/// A profile file for exactly this signal shape.
pub fn profile_for(dir: &Path, channels: u16, rate: u32, bits: u16, layout: &str) -> PathBuf {
    let names: Vec<String> = (1..=channels).map(|c| format!("\"Track {c}\"")).collect();
    let text = format!(
        "[carrier]\ndescription = \"test reel\"\n[signal]\nsample_rate = {rate}\nbit_depth = {bits}\n\
         channels = [{}]\nlayout = \"{layout}\"\n[metadata]\nrequired = [\"TITLE\"]\n",
        names.join(", ")
    );
    let path = dir.join(format!("p{channels}-{rate}-{bits}-{layout}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The samples of a decoded WAV (as `flac -d` writes it), right-justified.
pub fn read_wav_samples(path: &Path) -> (u16, u16, Vec<i32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[0..4], b"RIFF", "{}", path.display());
    let mut i = 12;
    let (mut channels, mut bits) = (0u16, 0u16);
    while i + 8 <= b.len() {
        let id = &b[i..i + 4];
        let n = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap()) as usize;
        let body = &b[i + 8..(i + 8 + n).min(b.len())];
        if id == b"fmt " {
            channels = u16::from_le_bytes([body[2], body[3]]);
            bits = u16::from_le_bytes([body[14], body[15]]);
        }
        if id == b"data" {
            let w = usize::from(bits / 8);
            let samples = body
                .chunks_exact(w)
                .map(|s| {
                    let mut v = [0u8; 4];
                    v[4 - w..].copy_from_slice(s);
                    i32::from_le_bytes(v) >> (32 - bits)
                })
                .collect();
            return (channels, bits, samples);
        }
        i += 8 + n + n % 2;
    }
    panic!("no data chunk in {}", path.display());
}

/// Every chunk of a WAV file, in order.
pub fn wav_chunks(path: &Path) -> Vec<([u8; 4], Vec<u8>)> {
    let b = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut i = 12;
    while i + 8 <= b.len() {
        let id: [u8; 4] = b[i..i + 4].try_into().unwrap();
        let n = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap()) as usize;
        out.push((id, b[i + 8..(i + 8 + n).min(b.len())].to_vec()));
        i += 8 + n + n % 2;
    }
    out
}

/// Decodes a FLAC with ffmpeg's own decoder (an implementation independent of libFLAC) to
/// right-justified samples.
pub fn ffmpeg_decode(flac: &Path, bits: u16) -> Vec<i32> {
    let out = run(Command::new(tool("ffmpeg"))
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(flac)
        .args(["-f", "s32le", "-acodec", "pcm_s32le", "-"]));
    assert!(out.status.success(), "ffmpeg: {}", text(&out));
    out.stdout
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes(b.try_into().unwrap()) >> (32 - bits))
        .collect()
}

/// `bagit.py --validate` must accept the bag.
pub fn assert_valid_bag(bag: &Path) {
    let out = run(Command::new(tool("bagit.py")).arg("--validate").arg(bag));
    assert!(
        out.status.success() && text(&out).contains("is valid"),
        "bagit.py --validate {}: {}",
        bag.display(),
        text(&out)
    );
}

/// `flac -t` must pass the file, without warnings.
pub fn assert_flac_t(file: &Path) {
    let out = run(Command::new(tool("flac")).args(["-t", "-w"]).arg(file));
    assert!(
        out.status.success(),
        "flac -t {}: {}",
        file.display(),
        text(&out)
    );
}

/// `bagit.py --validate` must reject the bag (a fault injected into it is really there).
pub fn assert_bagit_rejects(bag: &Path) {
    let out = run(Command::new(tool("bagit.py")).arg("--validate").arg(bag));
    assert!(
        !out.status.success(),
        "bagit.py --validate still accepts {}: {}",
        bag.display(),
        text(&out)
    );
}

/// `flac -t` must reject the file (damage injected into it is really there).
pub fn assert_flac_t_fails(file: &Path) {
    let out = run(Command::new(tool("flac")).args(["-t", "-s"]).arg(file));
    assert!(
        !out.status.success(),
        "flac -t accepts the damaged {}",
        file.display()
    );
}

/// Every entry below `dir` with its kind and, for regular files, its content: for "the archive
/// is unchanged" and "nothing outside the archive changed". Links are recorded, never followed;
/// FIFOs are recorded, never opened (a test must not block on what it checks).
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<(PathBuf, String, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let m = p.symlink_metadata().unwrap();
            let kind = format!("{:?}", m.file_type());
            if m.is_dir() {
                out.push((rel, kind, Vec::new()));
                walk(root, &p, out);
            } else if m.is_file() {
                out.push((rel, kind, std::fs::read(&p).unwrap()));
            } else {
                out.push((rel, kind, Vec::new()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A folder outside the archive (`dir/decoy`, holding one file) that a test hashes with
/// [`snapshot`] before and after: nothing Capstan does may touch it.
pub fn decoy(dir: &Path) -> PathBuf {
    let d = dir.join("decoy");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("keep.txt"), b"not the archive's").unwrap();
    d
}

/// The FLAC masters of a committed bag.
pub fn masters(bag: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(bag.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "flac"))
        .collect();
    v.sort();
    v
}

/// Mounts a tmpfs of its own at `dir` (the tests run as root, as CI does).
pub fn mount_tmpfs(dir: &Path, opts: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let o = run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(dir));
    assert!(
        o.status.success(),
        "this test mounts a small tmpfs and must run as root (as CI does): {}",
        text(&o)
    );
}

/// Unmounts its folder when dropped.
pub struct Unmount(pub PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
