//! The archive's event log, `ARCHIVE/.capstan/events.jsonl`: one JSON object a line, in PREMIS
//! terms (event type, date-time, object, outcome, detail, agent). Lines are appended with one
//! `write` on a file opened for appending, so concurrent writers never interleave within a line.
//! A last line left without its newline (a crash or a full disk in the middle of an append) is
//! closed by the next append, so the next event always starts on a line of its own and only the
//! torn fragment is lost (`reindex` skips it and says so).
//! The log is opened without following a link and only if it is a regular file.

use super::ArchiveError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::FileExt;

crate::vocabulary::vocabulary! {
    /// A PREMIS event type (the Library of Congress vocabulary,
    /// `http://id.loc.gov/vocabulary/preservation/eventType`), written as its label.
    pub enum EventType {
        /// A type Capstan does not write (another tool's, or a later version's), kept as it was
        /// written.
        Other(String),
        /// An item entered the archive.
        Ingestion = "ingestion",
        /// A file's digest was computed at ingest.
        MessageDigestCalculation = "message digest calculation",
        /// A file (or a bag) was checked against its recorded digests.
        FixityCheck = "fixity check",
        /// A file was found elsewhere in the archive with its digest.
        Move = "move",
        /// A file is gone.
        Deletion = "deletion",
        /// A file was copied to a replica (and proved there by its checksum).
        Replication = "replication",
        /// A damaged file was moved aside into the archive's quarantine folder (never deleted).
        Quarantine = "quarantine",
        /// A file was brought back from a good copy (a replica), proved before it took its place.
        Recovery = "recovery",
    }
}

crate::vocabulary::vocabulary! {
    /// A PREMIS event outcome, written as its word.
    pub enum Outcome {
        /// A word Capstan does not write, kept as it was written.
        Other(String),
        Pass = "pass",
        Fail = "fail",
        /// Something to look at that is not a failure (a moved file, an unlisted one).
        Warning = "warning",
    }
}

impl Outcome {
    /// `Pass` when `ok`, else `Fail`.
    pub fn pass_if(ok: bool) -> Outcome {
        if ok {
            Outcome::Pass
        } else {
            Outcome::Fail
        }
    }
}

/// One PREMIS event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(rename = "ArchiveEvent")]
pub struct Event {
    /// RFC 3339, UTC.
    pub date_time: String,
    pub event_type: EventType,
    /// `collection/item-id`
    pub item: String,
    /// The file, relative to the item's bag, when the event concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub outcome: Outcome,
    pub detail: String,
    /// `capstan <version>; libFLAC <version>`
    pub agent: String,
    /// The copy the event concerns when it is not the archive itself: `replica NAME` (a
    /// replication to it, a check of it). Such events never change what the catalogue knows
    /// of the archive's own files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub copy: Option<String>,
}

/// Parses one line of `events.jsonl` (without its newline): the one reader of the log's lines,
/// used by `reindex`. The log may have been edited or damaged by hand, so any bytes may arrive;
/// a line that is not an event is an error, never a panic.
pub fn parse_line(line: &[u8]) -> Result<Event, serde_json::Error> {
    serde_json::from_slice(line)
}

/// Appends events to the archive's log.
pub fn append(archive: &super::Archive, events: &[Event]) -> Result<(), ArchiveError> {
    let path = archive.meta_dir().join("events.jsonl");
    let io = |source| ArchiveError::Io {
        path: path.clone(),
        source,
    };
    // Through the confined opener: a link, FIFO or folder in the log's place is refused.
    let mut f = archive.open_meta_file("events.jsonl", super::confined::Access::ReadAppend)?;
    let len = f.metadata().map_err(io)?.len();
    let mut last = [b'\n'];
    if len > 0 {
        f.read_exact_at(&mut last, len - 1).map_err(io)?;
    }
    // A torn last line: this append starts with the newline it lacks. Two writers that both see
    // it leave an empty line, which readers skip.
    let mut text = String::from(if last[0] == b'\n' { "" } else { "\n" });
    for e in events {
        text.push_str(&serde_json::to_string(e).expect("events serialise"));
        text.push('\n');
    }
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_data().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_and_outcomes_are_written_as_their_words_and_read_back() {
        for (t, word) in [
            (EventType::Ingestion, "ingestion"),
            (
                EventType::MessageDigestCalculation,
                "message digest calculation",
            ),
            (EventType::FixityCheck, "fixity check"),
            (EventType::Move, "move"),
            (EventType::Deletion, "deletion"),
            (EventType::Replication, "replication"),
            (EventType::Other("migration".into()), "migration"),
        ] {
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{word}\""));
            assert_eq!(
                serde_json::from_str::<EventType>(&format!("\"{word}\"")).unwrap(),
                t
            );
            assert_eq!(t.to_string(), word);
        }
        for (o, word) in [
            (Outcome::Pass, "pass"),
            (Outcome::Fail, "fail"),
            (Outcome::Warning, "warning"),
            (Outcome::Other("PASS".into()), "PASS"),
        ] {
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{word}\""));
            assert_eq!(
                serde_json::from_str::<Outcome>(&format!("\"{word}\"")).unwrap(),
                o
            );
        }
    }

    #[test]
    fn a_line_with_words_capstan_does_not_write_reads_and_writes_back_the_same() {
        let line = br#"{"date_time":"2026-01-01T00:00:00Z","event_type":"migration","item":"c/i","outcome":"transferred","detail":"to s3","agent":"other tool 2.0"}"#;
        let e = parse_line(line).unwrap();
        assert_eq!(e.event_type, EventType::Other("migration".into()));
        assert_eq!(serde_json::to_string(&e).unwrap().as_bytes(), line);
    }
}
