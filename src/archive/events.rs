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

/// One PREMIS event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339, UTC.
    pub date_time: String,
    /// PREMIS event type: `ingestion`, `message digest calculation`, `fixity check`, ...
    pub event_type: String,
    /// `collection/item-id`
    pub item: String,
    /// The file, relative to the item's bag, when the event concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `pass`, `fail` or `warning`.
    pub outcome: String,
    pub detail: String,
    /// `capstan <version>; libFLAC <version>`
    pub agent: String,
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
