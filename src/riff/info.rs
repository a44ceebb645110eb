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

/// A `LIST/INFO` payload ("INFO" and the sub-chunks): each text NUL-terminated and padded to an
/// even length; empty texts are left out.
pub fn info_payload(fields: &[([u8; 4], String)]) -> Vec<u8> {
    let mut out = b"INFO".to_vec();
    for (id, text) in fields.iter().filter(|(_, t)| !t.is_empty()) {
        let mut body = text.as_bytes().to_vec();
        body.push(0);
        out.extend_from_slice(&super::chunk(id, &body));
    }
    out
}

/// Whether a whole chunk (header and payload, as [`super::chunk`] lays it out) is `LIST/INFO`.
pub fn is_list_info(chunk: &[u8]) -> bool {
    chunk.len() >= 12 && &chunk[0..4] == b"LIST" && &chunk[8..12] == b"INFO"
}

/// Sets `id` to `text` in an INFO list, in place when it is there, else at the end.
pub fn set_info(fields: &mut Vec<([u8; 4], String)>, id: &[u8; 4], text: &str) {
    match fields.iter_mut().find(|(i, _)| i == id) {
        Some(f) => f.1 = text.to_string(),
        None => fields.push((*id, text.to_string())),
    }
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

    #[test]
    fn an_info_list_written_reads_back_and_keeps_order() {
        let mut fields = vec![
            (*b"IART", "Band".to_string()),
            (*b"IARL", "old".to_string()),
        ];
        set_info(&mut fields, b"IARL", "US, LOC/RSS");
        set_info(&mut fields, b"INAM", "Odd");
        set_info(&mut fields, b"ICMT", "");
        let payload = info_payload(&fields);
        assert_eq!(&payload[..4], b"INFO");
        let chunk = crate::riff::chunk(b"LIST", &payload);
        assert!(is_list_info(&chunk));
        assert_eq!(
            list_info(&payload[4..]),
            vec![
                (*b"IART", "Band".to_string()),
                (*b"IARL", "US, LOC/RSS".to_string()),
                (*b"INAM", "Odd".to_string()),
            ]
        );
        // "Odd" and its NUL are 4 bytes; "Band" and its NUL 5, padded to 6.
        assert_eq!(payload.len() % 2, 0);
    }
}
