//! The archive's event log, `ARCHIVE/.capstan/events.jsonl`: one JSON object a line, in PREMIS
//! terms (event type, date-time, object, outcome, detail, agent). Lines are appended with one
//! `write` on a file opened for appending, so concurrent writers never interleave within a line.
//! The log is opened without following a link and only if it is a regular file.

use super::ArchiveError;
use serde::{Deserialize, Serialize};
use std::io::Write;

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

/// Appends events to the archive's log.
pub fn append(archive: &super::Archive, events: &[Event]) -> Result<(), ArchiveError> {
    let path = archive.meta_dir().join("events.jsonl");
    let io = |source| ArchiveError::Io {
        path: path.clone(),
        source,
    };
    let mut text = String::new();
    for e in events {
        text.push_str(&serde_json::to_string(e).expect("events serialise"));
        text.push('\n');
    }
    // Through the confined opener: a link, FIFO or folder in the log's place is refused.
    let mut f = archive.open_meta_file("events.jsonl", super::confined::Access::Append)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_data().map_err(io)
}
