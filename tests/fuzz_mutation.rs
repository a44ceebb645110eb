//! Fuzzing on stable: a seeded mutation test over the same targets as the cargo-fuzz crate
//! (`fuzz/src/lib.rs`, included below), for every parser that reads what comes from outside.
//!
//! For each target, in order:
//! 1. every file in `tests/fuzz/<target>/` is replayed: the seeds (`seed-*`: files made by
//!    ffmpeg, flac, bagit.py and `capstan demo`, and the shipped profiles) and every input that
//!    once crashed, hung or over-allocated in a parser (`crash-*`, `hang-*`, `memory-*`), kept
//!    after the fix;
//! 2. inputs made from those seeds (and, for the WAV reader, from the test helpers' WAV builder)
//!    by deterministic mutations (bit flips; bytes set to 0, 0xFF, 0x7F, 0x80; length fields
//!    made ±1, zero, huge, or off by the bytes left; chunks and blocks cut, dropped, doubled;
//!    two seeds spliced; for text, lines doubled or dropped, UTF-8 broken, tokens of the format
//!    inserted) are run, from a fixed seed, until an iteration count or a time budget runs out.
//!
//! Each input runs on a worker thread (the default 2 MiB stack of a spawned thread, as rayon's
//! verifying threads have) under `catch_unwind`, with a time limit (a hang fails the test) and
//! a counting allocator that bounds the memory a parse may take for the input's size (a size
//! field that lies must be refused, not allocated). A failing input is written to
//! `$CARGO_TARGET_TMPDIR/fuzz/<target>/` and named in the failure: fix the parser, then move the
//! file into `tests/fuzz/<target>/` so it is replayed on every run (see docs/fuzzing.md).
//!
//! Budget: `CAPSTAN_FUZZ_SECONDS` per target (default 6; the nine targets run two at a time on
//! a 2-core machine, about 30 s in all), `CAPSTAN_FUZZ_ITERATIONS` at most (default 250,000 a
//! second of budget).

mod common;

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Memory: a counting allocator, per thread (the targets run two at a time, each on its worker).

struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn grew(by: i64) {
    // try_with: allocations during a thread's teardown find the counters gone; they are not
    // part of any parse.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + by;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size() as i64);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size() as i64);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        grew(-(layout.size() as i64));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            grew(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// A tiny deterministic generator (xorshift64*): the same inputs on every run and machine.

struct Rng(u64);

impl Rng {
    fn new(target: &str) -> Rng {
        // FNV-1a of the target's name, so each target has its own sequence.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in target.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// Where lengths and structures are, for mutations that aim at them.

/// An integer field: where it is, how wide, and whether big-endian.
#[derive(Clone, Copy)]
struct Field {
    at: usize,
    width: usize,
    big_endian: bool,
}

#[derive(Default)]
struct Structure {
    fields: Vec<Field>,
    /// Byte ranges of whole chunks / blocks (header included).
    spans: Vec<(usize, usize)>,
}

/// RIFF/RF64: the form size, every chunk header's size, ds64's 64-bit sizes and table count.
fn riff_structure(d: &[u8]) -> Structure {
    let mut s = Structure::default();
    if d.len() < 12 {
        return s;
    }
    s.fields.push(Field {
        at: 4,
        width: 4,
        big_endian: false,
    });
    let mut at = 12usize;
    while at + 8 <= d.len() {
        let size = u32::from_le_bytes([d[at + 4], d[at + 5], d[at + 6], d[at + 7]]) as usize;
        s.fields.push(Field {
            at: at + 4,
            width: 4,
            big_endian: false,
        });
        if &d[at..at + 4] == b"ds64" {
            for (off, width) in [(8, 8), (16, 8), (24, 8), (32, 4)] {
                if at + off + width <= d.len() {
                    s.fields.push(Field {
                        at: at + off,
                        width,
                        big_endian: false,
                    });
                }
            }
        }
        if &d[at..at + 4] == b"fmt " {
            // channels, rate, byte rate, block align, bits, cbSize, valid bits, mask
            for (off, width) in [
                (10, 2),
                (12, 4),
                (16, 4),
                (20, 2),
                (22, 2),
                (24, 2),
                (26, 2),
            ] {
                if at + off + width <= d.len() {
                    s.fields.push(Field {
                        at: at + off,
                        width,
                        big_endian: false,
                    });
                }
            }
        }
        let end = at
            .saturating_add(8)
            .saturating_add(size)
            .saturating_add(size % 2);
        s.spans.push((at, end.min(d.len())));
        if end > d.len() || size == u32::MAX as usize {
            break;
        }
        at = end;
    }
    s
}

/// FLAC: every metadata block header's 24-bit length, and inside VORBIS_COMMENT the vendor
/// length, the comment count and each comment's length (little-endian, RFC 9639 §8.6).
fn flac_structure(d: &[u8]) -> Structure {
    let mut s = Structure::default();
    if d.len() < 8 || &d[..4] != b"fLaC" {
        return s;
    }
    let mut at = 4usize;
    while at + 4 <= d.len() {
        let kind = d[at] & 0x7f;
        let len = u32::from_be_bytes([0, d[at + 1], d[at + 2], d[at + 3]]) as usize;
        s.fields.push(Field {
            at: at + 1,
            width: 3,
            big_endian: true,
        });
        let body = at + 4;
        let end = (body + len).min(d.len());
        s.spans.push((at, end));
        if kind == 0 && body + 18 <= d.len() {
            // STREAMINFO: block sizes, frame sizes (big-endian 16 and 24 bits).
            for (off, width) in [(0, 2), (2, 2), (4, 3), (7, 3)] {
                s.fields.push(Field {
                    at: body + off,
                    width,
                    big_endian: true,
                });
            }
        }
        if kind == 4 {
            let mut p = body;
            let field = |p: usize| Field {
                at: p,
                width: 4,
                big_endian: false,
            };
            if p + 4 <= end {
                s.fields.push(field(p));
                let vendor = u32::from_le_bytes([d[p], d[p + 1], d[p + 2], d[p + 3]]) as usize;
                p = p.saturating_add(4).saturating_add(vendor);
                // The comment count, then each comment's length.
                if p + 4 <= end {
                    s.fields.push(field(p));
                    p += 4;
                }
                while p + 4 <= end && s.fields.len() < 4096 {
                    s.fields.push(field(p));
                    let n = u32::from_le_bytes([d[p], d[p + 1], d[p + 2], d[p + 3]]) as usize;
                    p = p.saturating_add(4).saturating_add(n);
                }
            }
        }
        if d[at] & 0x80 != 0 || body + len > d.len() {
            break;
        }
        at = body + len;
    }
    s
}

fn line_structure(d: &[u8]) -> Structure {
    let mut s = Structure::default();
    let mut start = 0;
    for (i, &b) in d.iter().enumerate() {
        if b == b'\n' {
            s.spans.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < d.len() {
        s.spans.push((start, d.len()));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Mutations.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Binary,
    Text,
}

const INTERESTING_BYTES: [u8; 6] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE];

/// Byte sequences that break UTF-8: a lone continuation, a lead without its tail, an overlong
/// NUL, a surrogate, a code point past U+10FFFF, a byte never valid.
const BROKEN_UTF8: &[&[u8]] = &[
    b"\x80",
    b"\xC3",
    b"\xE2\x80",
    b"\xC0\x80",
    b"\xED\xA0\x80",
    b"\xF4\x90\x80\x80",
    b"\xFF",
];

/// Numbers that test a parser's integer and float handling.
const NUMBERS: &[&[u8]] = &[
    b"18446744073709551616",
    b"-1",
    b"0",
    b"4294967296",
    b"1e999",
    b"nan",
    b"-0.0",
    b"99999999999999999999999999999999",
];

fn read_field(d: &[u8], f: Field) -> u64 {
    let mut v = 0u64;
    for i in 0..f.width {
        let byte = u64::from(d[f.at + i]);
        if f.big_endian {
            v = (v << 8) | byte;
        } else {
            v |= byte << (8 * i);
        }
    }
    v
}

fn write_field(d: &mut [u8], f: Field, v: u64) {
    for i in 0..f.width {
        let shift = if f.big_endian {
            8 * (f.width - 1 - i)
        } else {
            8 * i
        };
        d[f.at + i] = (v >> shift) as u8;
    }
}

struct Mutator<'a> {
    kind: Kind,
    structure: fn(&[u8]) -> Structure,
    tokens: &'a [&'a [u8]],
    seeds: &'a [Vec<u8>],
}

impl Mutator<'_> {
    /// One mutation of `d`, in place. Kept under 4 MiB.
    fn mutate(&self, rng: &mut Rng, d: &mut Vec<u8>) {
        let binary_ops = 10;
        let ops = if self.kind == Kind::Text {
            binary_ops + 5
        } else {
            binary_ops
        };
        let op = rng.below(ops);
        if d.is_empty() {
            // Nothing to aim at: grow a byte (every mutation below needs one).
            d.push(*rng.pick(&INTERESTING_BYTES));
            return;
        }
        match op {
            0 => {
                let at = rng.below(d.len());
                d[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = rng.below(d.len());
                d[at] = *rng.pick(&INTERESTING_BYTES);
            }
            2 | 3 => {
                // A length field, from the format's structure where known, else any 4 bytes.
                let s = (self.structure)(d);
                let f = if !s.fields.is_empty() && rng.below(8) != 0 {
                    *rng.pick(&s.fields)
                } else if d.len() >= 4 {
                    Field {
                        at: rng.below(d.len() - 3),
                        width: 4,
                        big_endian: rng.below(2) == 0,
                    }
                } else {
                    return;
                };
                if f.at + f.width > d.len() {
                    return;
                }
                let max = if f.width == 8 {
                    u64::MAX
                } else {
                    (1u64 << (8 * f.width)) - 1
                };
                let v = read_field(d, f);
                let left = (d.len() - f.at) as u64;
                let new = match rng.below(11) {
                    0 => v.wrapping_add(1),
                    1 => v.wrapping_sub(1),
                    2 => 0,
                    3 => max,
                    4 => max - 1,
                    5 => max / 2 + 1,
                    6 => v.wrapping_mul(2),
                    7 => v / 2,
                    8 => left,
                    9 => left + 1,
                    _ => left.saturating_sub(1),
                } & max;
                write_field(d, f, new);
            }
            4 => {
                // Truncate: anywhere, or at the edge of a chunk/block/line.
                let s = (self.structure)(d);
                let at = if !s.spans.is_empty() && rng.below(2) == 0 {
                    let (a, b) = *rng.pick(&s.spans);
                    let edge = if rng.below(2) == 0 { a } else { b };
                    (edge + rng.below(3)).saturating_sub(1).min(d.len())
                } else {
                    rng.below(d.len() + 1)
                };
                d.truncate(at);
            }
            5 => {
                // Double a chunk/block/line (in place, or somewhere else).
                let s = (self.structure)(d);
                let (a, b) = if s.spans.is_empty() {
                    let a = rng.below(d.len());
                    (a, (a + 1 + rng.below(64)).min(d.len()))
                } else {
                    *rng.pick(&s.spans)
                };
                let copy = d[a..b].to_vec();
                let at = if rng.below(2) == 0 {
                    b
                } else {
                    rng.below(d.len() + 1)
                };
                let times = if rng.below(8) == 0 {
                    1 + rng.below(64)
                } else {
                    1
                };
                for _ in 0..times {
                    if d.len() + copy.len() > 4 << 20 {
                        break;
                    }
                    d.splice(at..at, copy.iter().copied());
                }
            }
            6 => {
                // Drop a chunk/block/line or a few bytes.
                let s = (self.structure)(d);
                let (a, b) = if !s.spans.is_empty() && rng.below(2) == 0 {
                    *rng.pick(&s.spans)
                } else {
                    let a = rng.below(d.len());
                    (a, (a + 1 + rng.below(16)).min(d.len()))
                };
                d.drain(a..b);
            }
            7 => {
                // Splice: this input's head with another seed's tail.
                let other = rng.pick(self.seeds);
                let cut = rng.below(d.len() + 1);
                let from = rng.below(other.len() + 1);
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
            8 => {
                // Insert a token of the format (or random bytes for binary formats).
                let at = rng.below(d.len() + 1);
                let bytes: Vec<u8> = if !self.tokens.is_empty() && rng.below(4) != 0 {
                    rng.pick(self.tokens).to_vec()
                } else {
                    (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect()
                };
                d.splice(at..at, bytes);
            }
            9 => {
                // Overwrite a few bytes with random ones.
                let at = rng.below(d.len());
                for i in at..(at + 1 + rng.below(8)).min(d.len()) {
                    d[i] = rng.next() as u8;
                }
            }
            10 => {
                // Break UTF-8 somewhere, or cut a multi-byte character in half.
                let at = rng.below(d.len() + 1);
                if rng.below(3) == 0 {
                    if let Some(p) = d.iter().position(|&b| b >= 0xC0) {
                        d.truncate(p + 1);
                        return;
                    }
                }
                d.splice(at..at, rng.pick(BROKEN_UTF8).iter().copied());
            }
            11 => {
                // Swap two lines.
                let s = line_structure(d);
                if s.spans.len() >= 2 {
                    let (a0, a1) = *rng.pick(&s.spans);
                    let (b0, b1) = *rng.pick(&s.spans);
                    if a1 <= b0 {
                        let mut out = d[..a0].to_vec();
                        out.extend_from_slice(&d[b0..b1]);
                        out.extend_from_slice(&d[a1..b0]);
                        out.extend_from_slice(&d[a0..a1]);
                        out.extend_from_slice(&d[b1..]);
                        *d = out;
                    }
                }
            }
            12 => {
                // A line from another seed.
                let other = rng.pick(self.seeds);
                let s = line_structure(other);
                if !s.spans.is_empty() {
                    let (a, b) = *rng.pick(&s.spans);
                    let at = rng.below(d.len() + 1);
                    d.splice(at..at, other[a..b].iter().copied());
                }
            }
            13 => {
                // A number made huge, negative or not a number.
                if let Some(start) = (0..d.len())
                    .map(|_| rng.below(d.len()))
                    .find(|&i| d[i].is_ascii_digit())
                {
                    let end = (start..d.len())
                        .find(|&i| !d[i].is_ascii_digit())
                        .unwrap_or(d.len());
                    let n = *rng.pick(NUMBERS);
                    d.splice(start..end, n.iter().copied());
                }
            }
            _ => {
                // A long run: deep nesting or a huge line.
                let token = if self.tokens.is_empty() {
                    &b"a"[..]
                } else {
                    rng.pick(self.tokens)
                };
                let at = rng.below(d.len() + 1);
                let times = 1 + rng.below(4096);
                let run: Vec<u8> = token
                    .iter()
                    .copied()
                    .cycle()
                    .take(token.len() * times)
                    .collect();
                d.splice(at..at, run);
            }
        }
        d.truncate(4 << 20);
    }
}

// ---------------------------------------------------------------------------------------------
// Running inputs: a worker thread, a time limit, a memory bound.

/// What one input did on the worker.
enum Outcome {
    Ok { peak: i64, accepted: bool },
    Panicked(String),
}

struct Worker {
    tx: mpsc::Sender<Vec<u8>>,
    rx: mpsc::Receiver<Outcome>,
    /// `$CARGO_TARGET_TMPDIR/fuzz/<target>/last-input`, rewritten before every run: an abort
    /// (a stack overflow, a panic inside libFLAC's callbacks) ends the whole process, and the
    /// input that caused it must survive it.
    last: std::fs::File,
}

fn worker(name: &str, run: targets::Body) -> Worker {
    let (tx, inputs) = mpsc::channel::<Vec<u8>>();
    let (done, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .spawn(move || {
            for input in inputs {
                let base = LIVE.with(Cell::get);
                PEAK.with(|p| p.set(base));
                let result = std::panic::catch_unwind(|| run(&input));
                let peak = PEAK.with(Cell::get) - base;
                drop(input);
                let outcome = match result {
                    Ok(accepted) => Outcome::Ok { peak, accepted },
                    Err(e) => Outcome::Panicked(
                        e.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "a panic".into()),
                    ),
                };
                if done.send(outcome).is_err() {
                    return;
                }
            }
        })
        .expect("worker thread");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let last = std::fs::File::create(dir.join("last-input")).unwrap();
    Worker { tx, rx, last }
}

/// A parse that takes longer than this is a hang (the slowest seen take milliseconds).
const TIME_LIMIT: Duration = Duration::from_secs(2);

struct Target {
    name: &'static str,
    kind: Kind,
    structure: fn(&[u8]) -> Structure,
    tokens: &'static [&'static [u8]],
    /// Most bytes a parse of `n` input bytes may hold at once.
    memory_bound: fn(usize) -> i64,
    /// Seeds built here rather than kept as files.
    built_seeds: fn() -> Vec<Vec<u8>>,
}

fn no_seeds() -> Vec<Vec<u8>> {
    Vec::new()
}

/// WAV files of every shape the reader accepts, from the test helpers' builder: each container
/// width, extensible with fewer valid bits, RF64, odd-sized chunks before and after the audio.
fn wav_seeds() -> Vec<Vec<u8>> {
    use common::{signal, wav_bytes, WavSpec};
    let mut out = Vec::new();
    for (channels, bits) in [(1u16, 16u16), (2, 24), (6, 32)] {
        let spec = WavSpec::pcm(channels, 48_000, bits);
        out.push(wav_bytes(&spec, &signal(channels, 48_000, bits, 0.002)));
    }
    let mut spec = WavSpec::pcm(2, 44_100, 20);
    spec.container_bits = 24;
    spec.extensible = true;
    spec.before = vec![(*b"LIST", b"INFOINAM\x05\0\0\0Reel\0\0".to_vec())];
    spec.after = vec![(*b"iXML", b"<BWFXML/>".to_vec()), (*b"JUNK", vec![0; 3])];
    out.push(wav_bytes(&spec, &signal(2, 44_100, 20, 0.001)));
    let mut spec = WavSpec::pcm(2, 96_000, 24);
    spec.rf64 = true;
    spec.before = vec![(*b"bext", vec![b' '; 603])];
    spec.after = vec![(*b"axml", b"<x/>".to_vec())];
    out.push(wav_bytes(&spec, &signal(2, 96_000, 24, 0.001)));
    out
}

const BAG_TOKENS: &[&[u8]] = &[
    b" ",
    b"\t",
    b"  ",
    b"\r",
    b"\n",
    b"\r\n",
    b":",
    b": ",
    b"%",
    b"%0A",
    b"%0d",
    b"%25",
    b"%2",
    b"../",
    b"/",
    b"data/",
    b"\\",
    b"\0",
    b".",
    b"\xE2\x80\xA8",
    b"\xC2\x85",
    b"Payload-Oxum: ",
    b"18446744073709551616.1",
    b"1.18446744073709551616",
    b".",
    b"0123456789abcdef",
];

const TOML_TOKENS: &[&[u8]] = &[
    b"=",
    b"[",
    b"]",
    b"[[",
    b"]]",
    b"\"",
    b"'",
    b"\"\"\"",
    b"'''",
    b"#",
    b"{",
    b"}",
    b",",
    b"\\",
    b"\\u0000",
    b"\\uD800",
    b"\n",
    b"\r",
    b"1e999",
    b"nan",
    b"-inf",
    b"-0",
    b"18446744073709551615",
    b"4294967296",
    b"true",
    b"[signal]",
    b"[carrier]",
    b"channels = []",
    b"a.b.c = 1",
    b"{id}",
    b"../",
    b"1979-05-27T07:32:00Z",
    b"0x7fffffff",
    b"\xE2\x80\xA8",
    b"a = [",
    b"a = {",
];

const JSON_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00",
    b":",
    b",",
    b"null",
    b"1e400",
    b"-",
    b"true",
    b"\"file\":",
    b"\"outcome\":\"fail\",",
    b"\n",
    b"\r",
    b"\xE2\x80\xA8",
    b"\"date_time\":\"\",",
    b"{\"a\":",
];

fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "wav",
            kind: Kind::Binary,
            structure: riff_structure,
            tokens: &[
                b"RIFF", b"RF64", b"WAVE", b"fmt ", b"data", b"ds64", b"bext", b"LIST", b"JUNK",
            ],
            // The reader's 1 MiB read block, the target's 256 KiB of frames, and the chunks
            // actually present (a few times over while a Vec grows and chunks are handed
            // back): nothing in proportion to what a size field claims.
            memory_bound: |n| (1 << 20) + (256 << 10) + (64 << 10) + 4 * n as i64,
            built_seeds: wav_seeds,
        },
        Target {
            name: "wav_file",
            kind: Kind::Binary,
            structure: riff_structure,
            tokens: &[
                b"RIFF", b"RF64", b"WAVE", b"fmt ", b"data", b"ds64", b"bext", b"LIST", b"JUNK",
            ],
            // The reader's 1 MiB read block, the target's 256 KiB of frames, and the chunks
            // actually present (a few times over while a Vec grows and chunks are handed
            // back): nothing in proportion to what a size field claims.
            memory_bound: |n| (1 << 20) + (256 << 10) + (64 << 10) + 4 * n as i64,
            built_seeds: wav_seeds,
        },
        Target {
            name: "bag_manifest",
            kind: Kind::Text,
            structure: line_structure,
            tokens: BAG_TOKENS,
            // Each path is decoded (five passes), kept with its line, and re-encoded by the
            // target's round-trip check, which makes a line of '%' three times as long:
            // about 18 bytes a byte at worst, measured.
            memory_bound: |n| (64 << 10) + 32 * n as i64,
            built_seeds: no_seeds,
        },
        Target {
            name: "bag_info",
            kind: Kind::Text,
            structure: line_structure,
            tokens: BAG_TOKENS,
            memory_bound: |n| (64 << 10) + 16 * n as i64,
            built_seeds: no_seeds,
        },
        Target {
            name: "flac_metadata",
            kind: Kind::Binary,
            structure: flac_structure,
            tokens: &[b"fLaC", b"\x84", b"\x04", b"\x00\x00\x22", b"riff", b"="],
            memory_bound: |n| (64 << 10) + 8 * n as i64,
            built_seeds: no_seeds,
        },
        Target {
            name: "flac_stream",
            kind: Kind::Binary,
            structure: flac_structure,
            tokens: &[b"fLaC", b"\xFF\xF8", b"\xFF\xF9", b"\x80", b"\x00\x00\x22"],
            // libFLAC allocates through malloc (not counted); Capstan's side keeps the stream
            // info, the damage list and one 64 KiB read buffer.
            memory_bound: |n| (256 << 10) + 8 * n as i64,
            built_seeds: no_seeds,
        },
        Target {
            name: "flac_decode",
            kind: Kind::Binary,
            structure: flac_structure,
            tokens: &[b"fLaC", b"\xFF\xF8", b"\xFF\xF9", b"\x80", b"\x00\x00\x22"],
            // libFLAC's own buffers are not counted (malloc); the reader keeps at most the
            // samples asked for plus one frame (65,535 samples of 8 channels: 2 MiB), and the
            // target's 128 KiB of output.
            memory_bound: |n| (4 << 20) + 8 * n as i64,
            built_seeds: no_seeds,
        },
        Target {
            name: "profile",
            kind: Kind::Text,
            structure: line_structure,
            tokens: TOML_TOKENS,
            // The TOML document is built whole, spans and all, before it is checked: up to
            // about 330 bytes a byte of input, measured, in proportion to the input (this
            // bound catches growth faster than that, not the constant).
            memory_bound: |n| (256 << 10) + 1024 * n as i64,
            built_seeds: no_seeds,
        },
        Target {
            name: "events",
            kind: Kind::Text,
            structure: line_structure,
            tokens: JSON_TOKENS,
            memory_bound: |n| (64 << 10) + 16 * n as i64,
            built_seeds: no_seeds,
        },
    ]
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

fn regression_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(name)
}

/// Files of `tests/fuzz/<target>/`, sorted: the seeds first (`seed-*` sorts after `crash-*`
/// and `hang-*`, so the regressions are replayed first of all).
fn kept_inputs(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = regression_dir(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

/// Writes a failing input where the failure message says, and returns that path.
fn keep_failure(name: &str, what: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in input {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let path = dir.join(format!("{what}-{h:016x}"));
    std::fs::write(&path, input).unwrap();
    path
}

/// Runs one input; Ok says whether the parser accepted it, Err what went wrong and where the
/// input was kept.
fn check(w: &Worker, t: &Target, label: &str, input: &[u8]) -> Result<bool, String> {
    use std::os::unix::fs::FileExt;
    let len = input.len();
    w.last.set_len(0).unwrap();
    w.last.write_all_at(input, 0).unwrap();
    w.tx.send(input.to_vec()).expect("worker alive");
    match w.rx.recv_timeout(TIME_LIMIT) {
        Ok(Outcome::Ok { peak, accepted }) => {
            let bound = (t.memory_bound)(len);
            if peak > bound {
                let kept = keep_failure(t.name, "memory", input);
                return Err(format!(
                    "{}: {label} ({len} bytes) held {peak} bytes at once, over the bound of \
                     {bound}; kept as {}",
                    t.name,
                    kept.display()
                ));
            }
            Ok(accepted)
        }
        Ok(Outcome::Panicked(msg)) => {
            let kept = keep_failure(t.name, "crash", input);
            Err(format!(
                "{}: {label} ({len} bytes) panicked: {msg}; kept as {}",
                t.name,
                kept.display()
            ))
        }
        Err(_) => {
            let kept = keep_failure(t.name, "hang", input);
            Err(format!(
                "{}: {label} ({len} bytes) ran for over {TIME_LIMIT:?}; kept as {}",
                t.name,
                kept.display()
            ))
        }
    }
}

fn fuzz(name: &str) {
    let t = targets().into_iter().find(|t| t.name == name).unwrap();
    let (_, run) = targets::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("the fuzz crate has this target");
    let w = worker(name, *run);
    let kept = kept_inputs(name);
    assert!(
        kept.iter().any(|(f, _)| f.starts_with("seed-")),
        "tests/fuzz/{name}/ has no seed"
    );
    let mut failures = Vec::new();
    for (file, bytes) in &kept {
        if let Err(e) = check(&w, &t, &format!("tests/fuzz/{name}/{file}"), bytes) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "kept inputs fail again:\n{}",
        failures.join("\n")
    );

    let kept_count = kept.len();
    let seeds: Vec<Vec<u8>> = kept
        .into_iter()
        .map(|(_, b)| b)
        .chain((t.built_seeds)())
        .collect();
    let mutator = Mutator {
        kind: t.kind,
        structure: t.structure,
        tokens: t.tokens,
        seeds: &seeds,
    };
    let seconds = env_number("CAPSTAN_FUZZ_SECONDS", 6);
    let budget = Duration::from_secs(seconds);
    // Far more than the fastest target runs in the time, so that on a normal machine the clock
    // decides; the count bounds a run where the clock cannot be trusted.
    let max_iterations = env_number("CAPSTAN_FUZZ_ITERATIONS", 250_000 * seconds.max(1));
    let mut rng = Rng::new(name);
    let started = Instant::now();
    let mut runs = 0u64;
    let mut accepted: Vec<Vec<u8>> = Vec::new();
    let mut slowest = Duration::ZERO;
    while runs < max_iterations && started.elapsed() < budget && failures.len() < 5 {
        // Inputs the parser accepted after mutation get past its first checks, so they are
        // mutated further a third of the time (a crude stand-in for coverage feedback).
        let mut input = if !accepted.is_empty() && rng.below(3) == 0 {
            rng.pick(&accepted).clone()
        } else {
            rng.pick(&seeds).clone()
        };
        for _ in 0..1 + rng.below(4) {
            mutator.mutate(&mut rng, &mut input);
        }
        runs += 1;
        let one = Instant::now();
        let result = check(&w, &t, &format!("mutation {runs}"), &input);
        slowest = slowest.max(one.elapsed());
        match result {
            // Small ones only: stacked doublings would otherwise grow them without end, and
            // slow every later run.
            Ok(true) if input.len() > 64 << 10 => {}
            Ok(true) if accepted.len() < 256 => accepted.push(input),
            Ok(true) => {
                let at = rng.below(accepted.len());
                accepted[at] = input;
            }
            Ok(false) => {}
            Err(e) => {
                eprintln!("{e}");
                failures.push(e);
            }
        }
    }
    eprintln!(
        "fuzz {name}: {kept_count} kept inputs replayed, {runs} mutated inputs (from those and \
         {} built seeds) run in {:.1} s (the slowest {:.1} ms), {} failed",
        seeds.len() - kept_count,
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {runs} mutated inputs failed (move each kept file into tests/fuzz/{name}/ once \
         the parser is fixed):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_wav_reader_survives_mutated_wav_bwf_and_rf64_files() {
    fuzz("wav");
}

#[test]
fn the_wav_reader_survives_mutated_wav_files_opened_as_ingest_opens_them() {
    fuzz("wav_file");
}

#[test]
fn manifest_parsing_survives_mutated_manifests() {
    fuzz("bag_manifest");
}

#[test]
fn bag_info_parsing_survives_mutated_bag_info() {
    fuzz("bag_info");
}

#[test]
fn flac_metadata_reading_survives_mutated_metadata_blocks() {
    fuzz("flac_metadata");
}

#[test]
fn flac_verification_survives_mutated_flac_streams() {
    fuzz("flac_stream");
}

#[test]
fn flac_decoding_for_derivatives_survives_mutated_flac_files() {
    fuzz("flac_decode");
}

#[test]
fn profile_parsing_survives_mutated_profiles() {
    fuzz("profile");
}

#[test]
fn event_log_parsing_survives_mutated_event_lines() {
    fuzz("events");
}

#[test]
fn every_fuzz_target_has_a_mutation_test_and_a_folder_of_kept_inputs() {
    let here: Vec<&str> = targets().iter().map(|t| t.name).collect();
    let there: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(here, there);
    for name in here {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(bin.is_file(), "{} is missing", bin.display());
        let manifest =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
                .unwrap();
        assert!(
            manifest.contains(&format!(
                "name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\""
            )),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
        assert!(regression_dir(name).is_dir());
    }
}

/// The checks themselves: a target that panics, one that hangs and one that allocates what a
/// size field claims are each caught, and the input is kept.
#[test]
fn the_harness_catches_a_panic_a_hang_and_an_allocation_out_of_proportion() {
    fn fake(name: &'static str) -> Target {
        Target {
            name,
            kind: Kind::Binary,
            structure: riff_structure,
            tokens: &[],
            memory_bound: |n| (64 << 10) + 16 * n as i64,
            built_seeds: no_seeds,
        }
    }
    let cases: [(&'static str, targets::Body, &str); 3] = [
        (
            "selftest-panic",
            |d| {
                assert!(d != b"boom", "boom");
                true
            },
            "panicked: boom",
        ),
        (
            "selftest-hang",
            |d| {
                if d == b"boom" {
                    std::thread::sleep(TIME_LIMIT + Duration::from_secs(1));
                }
                true
            },
            "ran for over 2s",
        ),
        (
            "selftest-memory",
            |d| {
                if d == b"boom" {
                    std::hint::black_box(vec![0u8; 16 << 20]);
                }
                true
            },
            "held 16777216 bytes at once",
        ),
    ];
    for (name, run, says) in cases {
        let (t, w) = (fake(name), worker(name, run));
        assert!(check(&w, &t, "harmless", b"fine").is_ok(), "{name}");
        let err = check(&w, &t, "bad", b"boom").unwrap_err();
        assert!(err.contains(says), "{name}: {err}");
        let kept = err.rsplit("kept as ").next().unwrap();
        assert_eq!(std::fs::read(kept).unwrap(), b"boom", "{name}: {err}");
    }
}
