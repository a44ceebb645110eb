//! The digests BagIt manifests use, computed together over one read.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// A manifest's algorithm (RFC 8493 §2.4 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// From the name in `manifest-<name>.txt`.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "md5" => Some(Algorithm::Md5),
            "sha1" => Some(Algorithm::Sha1),
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
}

/// Several digests fed the same bytes.
pub(super) struct Digests {
    md5: Option<Md5>,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
    sha512: Option<Sha512>,
}

impl Digests {
    pub fn new(algorithms: &[Algorithm]) -> Digests {
        let has = |a| algorithms.contains(&a);
        Digests {
            md5: has(Algorithm::Md5).then(Md5::new),
            sha1: has(Algorithm::Sha1).then(Sha1::new),
            sha256: has(Algorithm::Sha256).then(Sha256::new),
            sha512: has(Algorithm::Sha512).then(Sha512::new),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.md5 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha512 {
            h.update(bytes);
        }
    }

    /// Lower-case hex digests, in algorithm order.
    pub fn finish(self) -> Vec<(Algorithm, String)> {
        let hex = crate::flac::hex;
        let mut out = Vec::new();
        if let Some(h) = self.md5 {
            out.push((Algorithm::Md5, hex(&h.finalize())));
        }
        if let Some(h) = self.sha1 {
            out.push((Algorithm::Sha1, hex(&h.finalize())));
        }
        if let Some(h) = self.sha256 {
            out.push((Algorithm::Sha256, hex(&h.finalize())));
        }
        if let Some(h) = self.sha512 {
            out.push((Algorithm::Sha512, hex(&h.finalize())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_abc_are_the_published_ones() {
        let mut d = Digests::new(&[Algorithm::Sha256, Algorithm::Md5, Algorithm::Sha1]);
        d.update(b"a");
        d.update(b"bc");
        let got = d.finish();
        assert_eq!(got[0].1, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(got[1].1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            got[2].1,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
