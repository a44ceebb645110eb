//! A SeaweedFS S3 server (`weed mini`, installed by scripts/setup.sh into the tools' venv) on
//! free loopback ports in a temporary folder, for the tests that need a real object store.

use super::tool;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "copies";
pub const KEY: &str = "capstan-test";
pub const SECRET: &str = "capstan-test-secret";

/// One `weed mini` on loopback: S3, its filer and metrics on ports of their own.
pub struct Weed {
    child: Option<Child>,
    data: PathBuf,
    ports: Vec<u16>,
}

pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

impl Weed {
    pub fn start(data: &Path) -> Weed {
        let mut w = Weed {
            child: None,
            data: data.to_path_buf(),
            ports: free_ports(11),
        };
        w.run();
        w
    }

    pub fn run(&mut self) {
        std::fs::create_dir_all(self.data.join("d")).unwrap();
        let config = self.data.join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"capstan","credentials":[{{"accessKey":"{KEY}","secretKey":"{SECRET}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
            ),
        )
        .unwrap();
        let p = &self.ports;
        let port = |flag: &str, i: usize| format!("-{flag}={}", p[i]);
        let child = Command::new(tool("weed"))
            .arg("mini")
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-dir={}", self.data.join("d").display()))
            .arg(format!("-bucket={BUCKET}"))
            .arg(format!("-s3.config={}", config.display()))
            .args([
                port("master.port", 0),
                port("master.port.grpc", 1),
                port("volume.port", 2),
                port("volume.port.grpc", 3),
                port("filer.port", 4),
                port("filer.port.grpc", 5),
                port("s3.port", 6),
                port("s3.port.grpc", 7),
                port("admin.port", 8),
                port("admin.port.grpc", 9),
                port("metricsPort", 10),
            ])
            .args([
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.data.join("weed.log")).unwrap())
            .spawn()
            .expect("weed starts");
        self.child = Some(child);
        // Ready when S3 answers a request (403 without credentials) and the filer its root.
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let answers = |url: &str| {
                matches!(
                    ureq::get(url).call(),
                    Ok(_) | Err(ureq::Error::StatusCode(_))
                )
            };
            if answers(&self.s3()) && answers(&format!("{}/buckets/", self.filer())) {
                return;
            }
            assert!(
                Instant::now() < until,
                "weed mini did not start: {}",
                std::fs::read_to_string(self.data.join("weed.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn s3(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[6])
    }

    pub fn filer(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[4])
    }

    /// The object's place in the filer (below the bucket).
    pub fn object(&self, key: &str) -> String {
        format!("{}/buckets/{BUCKET}/{key}", self.filer())
    }

    /// Bytes of objects the S3 service has sent (its own metric; 0 before any).
    pub fn sent_bytes(&self) -> f64 {
        let text = ureq::get(&format!("http://127.0.0.1:{}/metrics", self.ports[10]))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with("SeaweedFS_s3_bucket_traffic_sent_bytes_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // weed leaves a socket per port in the temporary folder.
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("seaweedfs-")
                    && self
                        .ports
                        .iter()
                        .any(|p| name.ends_with(&format!("-{p}.sock")))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        self.stop();
    }
}
