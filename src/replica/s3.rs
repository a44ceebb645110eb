//! The few S3 calls a replica needs (HEAD with the stored checksum, PUT with the file's SHA-256,
//! ListObjectsV2, GET of small objects), signed with AWS Signature Version 4, over a blocking
//! HTTP client (`ureq`).
//!
//! # Promises
//!
//! - **The server proves every upload.** A PUT names the body's SHA-256 twice: as the signed
//!   payload hash (`x-amz-content-sha256`) and as the object's checksum
//!   (`x-amz-checksum-sha256`, stored with it and returned by HEAD). The digest is the bag
//!   manifest's, not one computed from what is sent, so bytes that changed on their way (a
//!   damaged read, the network) are refused by the server (`BadDigest`), not stored.
//! - **A stored checksum is read back without the object.** HEAD with
//!   `x-amz-checksum-mode: ENABLED` returns it; nothing of the object's body moves.
//! - **No answer is never "missing".** A 404 is the only "not there"; every other failure
//!   (refused connection, timeout, 403, 5xx) is an [`S3Error`] naming the request, and a store
//!   that does not answer is given up on within [`GIVE_UP`].
//! - Credentials come from the environment or the shared credentials file and are never
//!   written anywhere.

use crate::flac::hex;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a store may leave a request unanswered, retries included, before it is declared
/// unreachable.
pub const GIVE_UP: Duration = Duration::from_secs(50);
/// One attempt's limit to connect (a store that is down refuses at once; one that is
/// unroutable is waited for this long).
const CONNECT: Duration = Duration::from_secs(10);
/// Attempts at a request that failed for want of an answer (not for a refusal).
const ATTEMPTS: u32 = 3;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{what}: the store did not answer ({detail})")]
    Unreachable { what: String, detail: String },
    #[error("{what}: access denied ({status}: {detail}); check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or ~/.aws/credentials) and the bucket's permissions")]
    Denied {
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: the server refused the bytes sent, which do not match their SHA-256 ({detail}); nothing was stored")]
    BadDigest { what: String, detail: String },
    #[error("{what}: the server answered {status}: {detail}")]
    Server {
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: {detail}")]
    Local { what: String, detail: String },
}

impl S3Error {
    /// The store could not be asked (down, unreachable, refusing us): nothing can be said of
    /// what it holds.
    pub fn unreachable(&self) -> bool {
        matches!(
            self,
            S3Error::Unreachable { .. } | S3Error::Denied { .. } | S3Error::Server { .. }
        )
    }
}

/// Access keys.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, secret hidden)", self.access_key)
    }
}

impl Credentials {
    /// From `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), else the
    /// shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`)
    /// under `AWS_PROFILE` (default `default`).
    pub fn from_environment() -> Result<Credentials, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let (Some(access_key), Some(secret_key)) =
            (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        {
            return Ok(Credentials {
                access_key,
                secret_key,
                session_token: var("AWS_SESSION_TOKEN"),
            });
        }
        let file = var("AWS_SHARED_CREDENTIALS_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| var("HOME").map(|h| std::path::Path::new(&h).join(".aws/credentials")));
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let none = || {
            format!(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile [{profile}] in {}",
                file.as_ref()
                    .map_or("~/.aws/credentials".into(), |f| f.display().to_string())
            )
        };
        let text = file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .ok_or_else(none)?;
        let fields = ini_section(&text, &profile);
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(access_key), Some(secret_key)) => Ok(Credentials {
                access_key,
                secret_key,
                session_token: get("aws_session_token"),
            }),
            _ => Err(none()),
        }
    }
}

/// The `key = value` lines of `[section]` of an INI text.
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            inside = line[1..line.len() - 1].trim() == section;
        } else if inside && !line.starts_with('#') && !line.starts_with(';') {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}

/// Where a replica is: an endpoint, a bucket and a prefix in it.
#[derive(Debug, Clone)]
pub struct Location {
    /// `http(s)://host[:port]`, no trailing slash.
    pub endpoint: String,
    pub bucket: String,
    /// The prefix of every key, without slashes at either end ("" for the bucket's root).
    pub prefix: String,
    pub region: String,
    /// Bucket in the path (`endpoint/bucket/key`) rather than the host name.
    pub path_style: bool,
}

impl Location {
    /// The key of `rel` (a path below the prefix).
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// `s3://bucket/prefix`
    pub fn url(&self) -> String {
        match self.prefix.as_str() {
            "" => format!("s3://{}", self.bucket),
            p => format!("s3://{}/{p}", self.bucket),
        }
    }
}

/// What HEAD says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub size: u64,
    /// The stored SHA-256 (none if it was stored without one, or as a composite of parts).
    pub sha256: Option<[u8; 32]>,
    /// The stored full-object CRC64NVME (a multipart upload's), if any.
    pub crc64nvme: Option<u64>,
    /// `x-amz-meta-capstan-sha256`: the SHA-256 Capstan proved the bytes by as it sent them
    /// in parts (the server proves the CRC64NVME of the same read).
    pub sent_sha256: Option<[u8; 32]>,
}

/// A store, and what has been spent on it.
pub struct Store {
    pub location: Location,
    credentials: Credentials,
    agent: ureq::Agent,
    /// Requests made and bytes received (bodies), for the cost reports.
    pub requests: AtomicU64,
    pub bytes_received: AtomicU64,
    /// A listing already made in this run, kept for the next step that needs the same one
    /// (an audit of a replica on its own lists it once, not twice).
    kept_listing: std::sync::Mutex<Option<(String, Listing)>>,
}

/// Keys with their sizes, as a listing gives them.
pub type Listing = Vec<(String, u64)>;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// URI-encodes as SigV4 asks: everything but `A-Za-z0-9-._~`, and `/` too unless `path`.
fn uri_encode(s: &str, path: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if path => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The SHA-256 of nothing: the payload hash of requests without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A request's `Authorization` header by Signature Version 4 (`headers` lower-case, including
/// `host`, `x-amz-date` and `x-amz-content-sha256`; `query` unencoded pairs).
#[allow(clippy::too_many_arguments)] // the parts of the canonical request, as AWS names them
pub fn authorization(
    credentials: &Credentials,
    region: &str,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_sha256: &str,
    amz_date: &str,
) -> String {
    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    q.sort();
    let query = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.to_ascii_lowercase(), v)
        })
        .collect();
    h.sort();
    let canonical_headers: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = h
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{method}\n{}\n{query}\n{canonical_headers}\n{signed}\n{payload_sha256}",
        uri_encode(path, true)
    );
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(
        format!("AWS4{}", credentials.secret_key).as_bytes(),
        date.as_bytes(),
    );
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, b"s3");
    let k = hmac(&k, b"aws4_request");
    let signature = hex(&hmac(&k, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        credentials.access_key
    )
}

/// `20130524T000000Z`
fn amz_date() -> String {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc()
        .format(&f)
        .expect("a date formats")
}

/// A body to PUT: its length and a reader of it.
pub struct Upload<'a> {
    pub len: u64,
    pub reader: &'a mut dyn Read,
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unbase64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

/// The text between `<tag>` and `</tag>` of each occurrence, XML entities decoded.
fn xml_all<'a>(xml: &'a str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest: &'a str = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(xml_unescape(&after[..j]));
        rest = &after[j + close.len()..];
    }
    out
}

fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(j) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..j];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=j]),
        }
        rest = &tail[j + 1..];
    }
    out.push_str(rest);
    out
}

/// An answer: status, the headers asked for, the body (bounded).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// S3's error code and message from the body, or the status.
    fn detail(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let code = xml_all(&text, "Code").into_iter().next();
        let message = xml_all(&text, "Message").into_iter().next();
        match (code, message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            _ => format!("HTTP {}", self.status),
        }
    }
}

/// The largest response body read (listings, errors, tag files); larger ones are cut.
const MAX_BODY: u64 = 64 << 20;

impl Store {
    pub fn new(location: Location, credentials: Credentials) -> Store {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT))
            .timeout_global(Some(GIVE_UP))
            .build();
        Store {
            location,
            credentials,
            agent: config.into(),
            requests: AtomicU64::new(0),
            kept_listing: std::sync::Mutex::new(None),
            bytes_received: AtomicU64::new(0),
        }
    }

    /// Host and path of `key` (or of the bucket, `None`).
    fn target(&self, key: Option<&str>) -> (String, String) {
        let l = &self.location;
        let (scheme, host) = l
            .endpoint
            .split_once("://")
            .unwrap_or(("https", l.endpoint.as_str()));
        let key = key.map_or(String::new(), |k| format!("/{k}"));
        if l.path_style {
            (format!("{scheme}://{host}"), format!("/{}{key}", l.bucket))
        } else {
            (
                format!("{scheme}://{}.{host}", l.bucket),
                if key.is_empty() { "/".into() } else { key },
            )
        }
    }

    /// One signed request, retried (with a pause) while the store does not answer, never
    /// past [`GIVE_UP`].
    #[allow(clippy::too_many_arguments)] // the parts of one signed request, five call sites
    fn request(
        &self,
        what: &str,
        method: &str,
        key: Option<&str>,
        query: &[(String, String)],
        extra: &[(String, String)],
        payload_sha256: &str,
        mut body: Option<Upload<'_>>,
        mut sink: Option<&mut dyn std::io::Write>,
    ) -> Result<Answer, S3Error> {
        let (base, path) = self.target(key);
        let host = base.split_once("://").map_or(base.as_str(), |(_, h)| h);
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let date = amz_date();
            let mut headers: Vec<(String, String)> = vec![
                ("host".into(), host.to_string()),
                ("x-amz-date".into(), date.clone()),
                ("x-amz-content-sha256".into(), payload_sha256.to_string()),
            ];
            if let Some(t) = &self.credentials.session_token {
                headers.push(("x-amz-security-token".into(), t.clone()));
            }
            headers.extend(extra.iter().cloned());
            let auth = authorization(
                &self.credentials,
                &self.location.region,
                method,
                &path,
                query,
                &headers,
                payload_sha256,
                &date,
            );
            let mut url = format!("{base}{}", uri_encode(&path, true));
            if !query.is_empty() {
                let q: Vec<String> = query
                    .iter()
                    .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
                    .collect();
                url = format!("{url}?{}", q.join("&"));
            }
            let mut req = ureq::http::Request::builder().method(method).uri(&url);
            for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
                req = req.header(k, v);
            }
            req = req.header("authorization", auth);
            self.requests.fetch_add(1, Ordering::Relaxed);
            let sent = match body.as_mut() {
                Some(up) => {
                    let req = req
                        .header("content-length", up.len.to_string())
                        .body(ureq::SendBody::from_reader(&mut up.reader))
                        .expect("a request builds");
                    self.agent.run(req)
                }
                None => self.agent.run(req.body(()).expect("a request builds")),
            };
            match sent {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.as_str().to_string(),
                                v.to_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect();
                    let data = if method == "HEAD" {
                        Vec::new()
                    } else if let (200, Some(out)) = (status, sink.as_mut()) {
                        // A whole object, streamed: a failure mid-body is a failed request.
                        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
                        let n =
                            std::io::copy(&mut reader, out).map_err(|e| S3Error::Unreachable {
                                what: what.to_string(),
                                detail: format!("the object's body was cut short: {e}"),
                            })?;
                        self.bytes_received.fetch_add(n, Ordering::Relaxed);
                        Vec::new()
                    } else {
                        resp.body_mut()
                            .with_config()
                            .limit(MAX_BODY)
                            .read_to_vec()
                            .unwrap_or_default()
                    };
                    self.bytes_received
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                    let answer = Answer {
                        status,
                        headers,
                        body: data,
                    };
                    // A server that is overloaded or restarting: asked again, as when it does
                    // not answer (a body already sent cannot be sent again from here).
                    if matches!(status, 500 | 503)
                        && body.is_none()
                        && attempt < ATTEMPTS
                        && started.elapsed() < GIVE_UP / 2
                    {
                        std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
                        continue;
                    }
                    return Ok(answer);
                }
                Err(e) => {
                    // A body already (partly) sent cannot be sent again from here.
                    if body.is_some() || attempt >= ATTEMPTS || started.elapsed() >= GIVE_UP / 2 {
                        return Err(S3Error::Unreachable {
                            what: what.to_string(),
                            detail: e.to_string(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
                }
            }
        }
    }

    fn what(&self, verb: &str, key: &str) -> String {
        format!("{verb} {}/{key}", self.location.endpoint)
    }

    fn refused(&self, what: String, a: &Answer) -> S3Error {
        match a.status {
            401 | 403 => S3Error::Denied {
                what,
                status: a.status,
                detail: a.detail(),
            },
            400 if a.detail().contains("BadDigest") || a.detail().contains("Mismatch") => {
                S3Error::BadDigest {
                    what,
                    detail: a.detail(),
                }
            }
            s => S3Error::Server {
                what,
                status: s,
                detail: a.detail(),
            },
        }
    }

    /// What the store holds at `key` (`None`: nothing), with its stored checksum.
    pub fn head(&self, key: &str) -> Result<Option<Head>, S3Error> {
        let what = self.what("HEAD", key);
        let a = self.request(
            &what,
            "HEAD",
            Some(key),
            &[],
            &[("x-amz-checksum-mode".into(), "ENABLED".into())],
            EMPTY_SHA256,
            None,
            None,
        )?;
        match a.status {
            200 => {
                let size = a
                    .header("content-length")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| S3Error::Server {
                        what: what.clone(),
                        status: 200,
                        detail: "no Content-Length".into(),
                    })?;
                let sha256 = a
                    .header("x-amz-checksum-sha256")
                    // A composite (multipart) checksum ends in `-N`: not the file's digest.
                    .filter(|v| !v.contains('-'))
                    .and_then(unbase64)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok());
                let crc64nvme = a
                    .header("x-amz-checksum-crc64nvme")
                    .and_then(unbase64)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes);
                let sent_sha256 = a
                    .header("x-amz-meta-capstan-sha256")
                    .and_then(|h| super::hex32(h.trim()));
                Ok(Some(Head {
                    size,
                    sha256,
                    crc64nvme,
                    sent_sha256,
                }))
            }
            404 => Ok(None),
            _ => Err(self.refused(what, &a)),
        }
    }

    /// Stores `body` at `key`; `sha256` is the digest the body must have (the manifest's).
    pub fn put(&self, key: &str, sha256: &[u8; 32], body: Upload<'_>) -> Result<(), S3Error> {
        let what = self.what("PUT", key);
        let a = self.request(
            &what,
            "PUT",
            Some(key),
            &[],
            &[("x-amz-checksum-sha256".into(), base64(sha256))],
            &hex(sha256),
            Some(body),
            None,
        )?;
        match a.status {
            200 => Ok(()),
            _ => Err(self.refused(what, &a)),
        }
    }

    /// Starts a multipart upload whose object will carry a full-object CRC64NVME; its id.
    pub fn start_multipart(&self, key: &str, sha256: &[u8; 32]) -> Result<String, S3Error> {
        let what = self.what("POST (start multipart)", key);
        let a = self.request(
            &what,
            "POST",
            Some(key),
            &[("uploads".into(), String::new())],
            &[
                ("x-amz-checksum-algorithm".into(), "CRC64NVME".into()),
                ("x-amz-checksum-type".into(), "FULL_OBJECT".into()),
                ("x-amz-meta-capstan-sha256".into(), hex(sha256)),
            ],
            EMPTY_SHA256,
            None,
            None,
        )?;
        if a.status != 200 {
            return Err(self.refused(what, &a));
        }
        xml_all(&String::from_utf8_lossy(&a.body), "UploadId")
            .into_iter()
            .next()
            .ok_or_else(|| S3Error::Server {
                what,
                status: 200,
                detail: "no UploadId in the answer".into(),
            })
    }

    /// Sends part `number` (from 1) of upload `id`: `part` with its CRC64NVME; its ETag.
    pub fn put_part(
        &self,
        key: &str,
        id: &str,
        number: u32,
        part: &[u8],
        crc: u64,
    ) -> Result<String, S3Error> {
        let what = self.what(&format!("PUT (part {number})"), key);
        let sha: [u8; 32] = Sha256::digest(part).into();
        let a = self.request(
            &what,
            "PUT",
            Some(key),
            &[
                ("partNumber".into(), number.to_string()),
                ("uploadId".into(), id.to_string()),
            ],
            &[(
                "x-amz-checksum-crc64nvme".into(),
                base64(&crc.to_be_bytes()),
            )],
            &hex(&sha),
            Some(Upload {
                len: part.len() as u64,
                reader: &mut &part[..],
            }),
            None,
        )?;
        match a.status {
            200 => Ok(a.header("etag").unwrap_or_default().to_string()),
            _ => Err(self.refused(what, &a)),
        }
    }

    /// Completes upload `id` from its parts (number, ETag, CRC64NVME); the server checks the
    /// whole object's CRC64NVME, `crc`, against what it received.
    pub fn complete_multipart(
        &self,
        key: &str,
        id: &str,
        parts: &[(u32, String, u64)],
        crc: u64,
    ) -> Result<(), S3Error> {
        let what = self.what("POST (complete multipart)", key);
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag, c) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag><ChecksumCRC64NVME>{}</ChecksumCRC64NVME></Part>",
                etag.replace('&', "&amp;").replace('<', "&lt;"),
                base64(&c.to_be_bytes())
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let sha: [u8; 32] = Sha256::digest(xml.as_bytes()).into();
        let a = self.request(
            &what,
            "POST",
            Some(key),
            &[("uploadId".into(), id.to_string())],
            &[
                (
                    "x-amz-checksum-crc64nvme".into(),
                    base64(&crc.to_be_bytes()),
                ),
                ("x-amz-checksum-type".into(), "FULL_OBJECT".into()),
            ],
            &hex(&sha),
            Some(Upload {
                len: xml.len() as u64,
                reader: &mut xml.as_bytes(),
            }),
            None,
        )?;
        // S3 may answer 200 with an error in the body.
        let text = String::from_utf8_lossy(&a.body);
        match a.status {
            200 if !text.contains("<Error>") => Ok(()),
            _ => Err(self.refused(what, &a)),
        }
    }

    /// Abandons upload `id` (its parts are dropped by the server).
    pub fn abort_multipart(&self, key: &str, id: &str) -> Result<(), S3Error> {
        let what = self.what("DELETE (abort multipart)", key);
        let a = self.request(
            &what,
            "DELETE",
            Some(key),
            &[("uploadId".into(), id.to_string())],
            &[],
            EMPTY_SHA256,
            None,
            None,
        )?;
        match a.status {
            200 | 204 | 404 => Ok(()),
            _ => Err(self.refused(what, &a)),
        }
    }

    /// A small object's bytes (tag files), `None` if there is none.
    pub fn get_small(&self, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        let what = self.what("GET", key);
        let a = self.request(&what, "GET", Some(key), &[], &[], EMPTY_SHA256, None, None)?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            _ => Err(self.refused(what, &a)),
        }
    }

    /// Streams the object at `key` into `out`: its length, `None` if there is none.
    pub fn get_to(&self, key: &str, out: &mut dyn std::io::Write) -> Result<Option<u64>, S3Error> {
        let what = self.what("GET", key);
        let before = self.bytes_received.load(Ordering::Relaxed);
        let a = self.request(
            &what,
            "GET",
            Some(key),
            &[],
            &[],
            EMPTY_SHA256,
            None,
            Some(out),
        )?;
        match a.status {
            200 => Ok(Some(self.bytes_received.load(Ordering::Relaxed) - before)),
            404 => Ok(None),
            _ => Err(self.refused(what, &a)),
        }
    }

    /// Bytes `start..start + len` of the object at `key` (one ranged GET, asked again once if
    /// the body comes back short); `None` if the object is not there.
    pub fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Option<Vec<u8>>, S3Error> {
        let what = format!(
            "{} bytes {start}-{}",
            self.what("GET", key),
            start + len - 1
        );
        let range = vec![(
            "range".to_string(),
            format!("bytes={start}-{}", start + len - 1),
        )];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let a = self.request(
                &what,
                "GET",
                Some(key),
                &[],
                &range,
                EMPTY_SHA256,
                None,
                None,
            )?;
            match a.status {
                200 | 206 if a.body.len() as u64 == len => return Ok(Some(a.body)),
                200 | 206 if attempt < ATTEMPTS => continue,
                200 | 206 => {
                    return Err(S3Error::Unreachable {
                        what,
                        detail: format!("{} byte(s) came back of {len}", a.body.len()),
                    })
                }
                404 => return Ok(None),
                _ => return Err(self.refused(what, &a)),
            }
        }
    }

    /// Keeps the listing of `prefix` for [`Store::listing`] to hand out once.
    pub fn keep_listing(&self, prefix: &str, listed: Listing) {
        *self.kept_listing.lock().expect("not poisoned") = Some((prefix.to_string(), listed));
    }

    /// The listing of `prefix`: the one kept by [`Store::keep_listing`] (once), else a new one.
    pub fn listing(&self, prefix: &str) -> Result<Listing, S3Error> {
        let kept = self.kept_listing.lock().expect("not poisoned").take();
        match kept {
            Some((p, listed)) if p == prefix => Ok(listed),
            _ => self.list(prefix),
        }
    }

    /// Every key under `prefix` (relative to the bucket) with its size, one request per 1000.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, S3Error> {
        let what = format!("LIST {}/{}", self.location.url(), prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type".to_string(), "2".to_string()),
                ("prefix".to_string(), prefix.to_string()),
            ];
            if let Some(t) = &token {
                query.push(("continuation-token".into(), t.clone()));
            }
            let a = self.request(&what, "GET", None, &query, &[], EMPTY_SHA256, None, None)?;
            if a.status != 200 {
                return Err(self.refused(what, &a));
            }
            let text = String::from_utf8_lossy(&a.body);
            for contents in xml_all(&text, "Contents") {
                let key = xml_all(&contents, "Key").into_iter().next();
                let size = xml_all(&contents, "Size")
                    .into_iter()
                    .next()
                    .and_then(|s| s.parse().ok());
                if let (Some(k), Some(s)) = (key, size) {
                    out.push((k, s));
                }
            }
            let truncated = xml_all(&text, "IsTruncated")
                .first()
                .is_some_and(|t| t == "true");
            token = xml_all(&text, "NextContinuationToken").into_iter().next();
            if !truncated || token.is_none() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_keys() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    /// AWS's own worked examples of Signature Version 4 for S3 ("Examples: Signature
    /// Calculations in AWS Signature Version 4", Amazon S3 API Reference).
    #[test]
    fn signatures_match_the_examples_aws_publishes() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // GET Object, with a Range header.
        let auth = authorization(
            &example_keys(),
            "us-east-1",
            "GET",
            "/test.txt",
            &[],
            &h(&[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ]),
            EMPTY_SHA256,
            "20130524T000000Z",
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        // GET Bucket (List Objects), with a query.
        let auth = authorization(
            &example_keys(),
            "us-east-1",
            "GET",
            "/",
            &[
                ("max-keys".into(), "2".into()),
                ("prefix".into(), "J".into()),
            ],
            &h(&[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ]),
            EMPTY_SHA256,
            "20130524T000000Z",
        );
        assert!(
            auth.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{auth}"
        );
        // PUT Object, with a payload hash and an extra x-amz header.
        let auth = authorization(
            &example_keys(),
            "us-east-1",
            "PUT",
            "/test$file.text",
            &[],
            &h(&[
                ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("host", "examplebucket.s3.amazonaws.com"),
                (
                    "x-amz-content-sha256",
                    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                ),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ]),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            "20130524T000000Z",
        );
        assert!(
            auth.ends_with(
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            ),
            "{auth}"
        );
    }

    #[test]
    fn base64_round_trips_and_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // The SHA-256 of nothing, as S3 writes it.
        let empty: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(
            base64(&empty),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        for n in 0..40u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(unbase64(&base64(&v)).unwrap(), v);
        }
        assert_eq!(unbase64("not base64!"), None);
    }

    #[test]
    fn listing_xml_is_read_with_its_entities() {
        let xml = "<ListBucketResult><IsTruncated>true</IsTruncated>\
            <Contents><Key>a/b &amp; c.flac</Key><Size>12</Size></Contents>\
            <Contents><Key>a/&#x263A;</Key><Size>3</Size></Contents>\
            <NextContinuationToken>t1</NextContinuationToken></ListBucketResult>";
        let keys: Vec<String> = xml_all(xml, "Contents")
            .iter()
            .flat_map(|c| xml_all(c, "Key"))
            .collect();
        assert_eq!(keys, ["a/b & c.flac", "a/\u{263A}"]);
        assert_eq!(xml_all(xml, "IsTruncated"), ["true"]);
    }

    #[test]
    fn credentials_come_from_the_shared_file_profile() {
        let text = "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[other]\naws_access_key_id=A2\naws_secret_access_key=S2\n";
        let other = ini_section(text, "other");
        assert!(other.contains(&("aws_access_key_id".into(), "A2".into())));
        assert!(!other.iter().any(|(_, v)| v == "A1"));
        assert_eq!(
            format!("{:?}", example_keys()),
            "Credentials(AKIAIOSFODNN7EXAMPLE, secret hidden)"
        );
    }
}
