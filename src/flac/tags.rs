//! Reading a FLAC file's Vorbis comments (its archival metadata) without decoding any audio:
//! the metadata blocks are walked from the `fLaC` marker (RFC 9639 §8) and the
//! VORBIS_COMMENT block (§8.6) parsed. Reads only the metadata, never follows a symbolic link,
//! and refuses lengths that do not fit the block they are in.

use super::FlacError;
use std::io::Read;
use std::path::Path;

/// RFC 9639 §8.1: block type 4 is VORBIS_COMMENT; the high bit of the header's first byte
/// marks the last metadata block.
const VORBIS_COMMENT: u8 = 4;
const LAST_BLOCK: u8 = 0x80;

/// The comments of a FLAC file, `(FIELD, value)` in the file's order (field names as written).
/// Empty when the file has no VORBIS_COMMENT block.
pub fn vorbis_comments(path: &Path) -> Result<Vec<(String, String)>, FlacError> {
    let f = crate::archive::confined::open_found(path).map_err(|source| FlacError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    comments_of(path, f)
}

/// The comments of the FLAC stream `f` (opened by the caller through the confined opener),
/// `path` naming it in errors.
pub fn comments_of(path: &Path, mut f: impl Read) -> Result<Vec<(String, String)>, FlacError> {
    let io = |source| FlacError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_flac = |detail: &str| FlacError::NotFlac {
        path: path.to_path_buf(),
        detail: detail.into(),
    };
    let mut marker = [0u8; 4];
    f.read_exact(&mut marker).map_err(io)?;
    if &marker != b"fLaC" {
        return Err(not_flac("no fLaC marker"));
    }
    loop {
        let mut header = [0u8; 4];
        f.read_exact(&mut header).map_err(io)?;
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        if header[0] & 0x7f == VORBIS_COMMENT {
            // Read, not allocated from the header: a length that lies about a short file
            // costs the bytes that are there (found by fuzzing: 16 MiB claimed in a 10 KB file).
            let mut block = Vec::new();
            (&mut f)
                .take(len as u64)
                .read_to_end(&mut block)
                .map_err(io)?;
            if block.len() < len {
                return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            return parse_vorbis_comment(&block)
                .ok_or_else(|| not_flac("malformed VORBIS_COMMENT"));
        }
        std::io::copy(&mut (&mut f).take(len as u64), &mut std::io::sink()).map_err(io)?;
        if header[0] & LAST_BLOCK != 0 {
            return Ok(Vec::new());
        }
    }
}

/// RFC 9639 §8.6: vendor string, then a count of `NAME=value` strings, every length a 32-bit
/// little-endian integer. None if a length runs past the block or a comment has no `=`.
fn parse_vorbis_comment(block: &[u8]) -> Option<Vec<(String, String)>> {
    let read_u32 = |at: &mut usize| -> Option<usize> {
        let b = block.get(*at..at.checked_add(4)?)?;
        *at += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let mut at = 0usize;
    let vendor = read_u32(&mut at)?;
    at = at.checked_add(vendor).filter(|&e| e <= block.len())?;
    let count = read_u32(&mut at)?;
    let mut out = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let len = read_u32(&mut at)?;
        let text = block.get(at..at.checked_add(len)?)?;
        at += len;
        let text = String::from_utf8_lossy(text);
        let (k, v) = text.split_once('=')?;
        out.push((k.to_string(), v.to_string()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment_block(vendor: &str, comments: &[&str]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((vendor.len() as u32).to_le_bytes());
        b.extend(vendor.as_bytes());
        b.extend((comments.len() as u32).to_le_bytes());
        for c in comments {
            b.extend((c.len() as u32).to_le_bytes());
            b.extend(c.as_bytes());
        }
        b
    }

    fn flac_with(blocks: &[(u8, Vec<u8>)]) -> tempfile::NamedTempFile {
        let mut bytes = b"fLaC".to_vec();
        for (i, (kind, body)) in blocks.iter().enumerate() {
            let last = if i + 1 == blocks.len() { LAST_BLOCK } else { 0 };
            let len = (body.len() as u32).to_be_bytes();
            bytes.extend([last | kind, len[1], len[2], len[3]]);
            bytes.extend(body);
        }
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    #[test]
    fn comments_are_read_in_order_after_other_blocks() {
        let f = flac_with(&[
            (0, vec![0; 34]),
            (3, vec![0; 18]),
            (
                VORBIS_COMMENT,
                comment_block("libFLAC", &["TITLE=Reel 1", "TAPE_SPEED=7.5", "NOTE=a=b"]),
            ),
            (1, vec![0; 100]),
        ]);
        let tags = vorbis_comments(f.path()).unwrap();
        assert_eq!(
            tags,
            [
                ("TITLE".into(), "Reel 1".into()),
                ("TAPE_SPEED".into(), "7.5".into()),
                ("NOTE".into(), "a=b".into())
            ]
        );
    }

    #[test]
    fn no_comment_block_gives_none_and_bad_input_is_refused() {
        let f = flac_with(&[(0, vec![0; 34])]);
        assert!(vorbis_comments(f.path()).unwrap().is_empty());
        let mut lying = comment_block("v", &["A=1"]);
        lying[9] = 200; // the comment's length runs past the block
        let f = flac_with(&[(VORBIS_COMMENT, lying)]);
        assert!(matches!(
            vorbis_comments(f.path()),
            Err(FlacError::NotFlac { .. })
        ));
        let f = flac_with(&[(VORBIS_COMMENT, comment_block("v", &["no equals sign"]))]);
        assert!(vorbis_comments(f.path()).is_err());
        let wav = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(wav.path(), b"RIFF....WAVE").unwrap();
        assert!(vorbis_comments(wav.path()).is_err());
    }

    #[test]
    fn a_symbolic_link_is_not_followed() {
        let f = flac_with(&[(0, vec![0; 34])]);
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link.flac");
        std::os::unix::fs::symlink(f.path(), &link).unwrap();
        assert!(matches!(vorbis_comments(&link), Err(FlacError::Io { .. })));
    }
}
