//! `LIST/INFO`: the RIFF INFO list (Microsoft RIFF, "INFO List Chunk") and the fields Capstan
//! carries from it into an item's metadata.

/// The sub-chunks of a `LIST/INFO` payload (after "INFO"): each id and its text, up to the
/// first NUL. A sub-chunk whose length runs past the payload ends the list.
pub fn list_info(mut b: &[u8]) -> Vec<([u8; 4], String)> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let id = [b[0], b[1], b[2], b[3]];
        let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let Some(body) = b.get(8..8 + len) else { break };
        let end = body.iter().position(|&c| c == 0).unwrap_or(body.len());
        out.push((id, String::from_utf8_lossy(&body[..end]).into_owned()));
        b = &b[(8 + len + len % 2).min(b.len())..];
    }
    out
}

/// The metadata field an INFO sub-chunk is carried into, or None for one Capstan does not carry.
pub fn carried_field(id: &[u8; 4]) -> Option<&'static str> {
    Some(match id {
        b"INAM" => "TITLE",
        b"ICRD" => "DATE",
        b"ICMT" => "DESCRIPTION",
        b"IART" => "ARTIST",
        b"ICOP" => "COPYRIGHT",
        b"IENG" => "ENGINEER",
        b"ISRC" => "SOURCE",
        b"ITCH" => "TECHNICIAN",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_info_reads_padded_subchunks() {
        let mut b = Vec::new();
        b.extend_from_slice(b"INAM\x05\0\0\0Title\0");
        b.extend_from_slice(b"ICRD\x0a\0\0\x001999-01-02");
        let got = list_info(&b);
        assert_eq!(got[0], (*b"INAM", "Title".to_string()));
        assert_eq!(got[1], (*b"ICRD", "1999-01-02".to_string()));
    }
}
