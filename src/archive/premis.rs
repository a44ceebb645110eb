//! An item's preservation record as PREMIS 3 XML (Library of Congress, `http://www.loc.gov/premis/v3`):
//! the item as an intellectual entity, each of its files as a file object with its size, its
//! SHA-256 (as the bag's manifest has it) and its format, every event of its history, and the
//! agents that carried them out. Written as `premis.xml` in each new bag (the item as ingested)
//! and by `capstan log ITEM --premis` (the item's whole history as the catalogue holds it), so
//! a repository that reads PREMIS (Archivematica's `metsrw`, a METS packager) takes the record
//! without Capstan.
//!
//! What it promises:
//! - Elements in the order the PREMIS 3 schema requires (object, then event, then agent; inside
//!   each, the schema's sequence). Each of these carries `version="3.0"` too (the schema allows
//!   it), which readers that take one entity at a time, like metsrw, need to know its namespace.
//! - Identifiers that do not depend on where or when the record is written: an object is named
//!   by its item and path (`tapes/a1/data/a1_pm.flac`), an event by the SHA-256 of its line in
//!   `events.jsonl` (so the bag's record and a later export name the same event alike), an
//!   agent by the agent string Capstan logs (`capstan 0.1.0; libFLAC 1.5.0`).
//! - A FLAC master's audio MD5 (its STREAMINFO's, recorded at ingest) is a significant
//!   property, not a fixity: it is a digest of the decoded audio, not of the file's bytes.
//! - Any text is escaped; characters XML 1.0 cannot hold (C0 controls other than tab, line
//!   feed and carriage return) become U+FFFD. Pure: no I/O.

use super::events::Event;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// PREMIS 3's namespace and schema, as the Library of Congress publishes them.
pub const NAMESPACE: &str = "http://www.loc.gov/premis/v3";
const SCHEMA: &str = "http://www.loc.gov/standards/premis/v3/premis.xsd";
/// The controlled vocabulary Capstan's event types come from.
const EVENT_TYPES: &str = "http://id.loc.gov/vocabulary/preservation/eventType";

/// One file of an item, as PREMIS describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File<'a> {
    /// Relative to the bag: `data/a1_pm.flac`.
    pub path: &'a str,
    /// None when the file was not there to measure.
    pub bytes: Option<u64>,
    /// Lower-case hex, as the manifest has it.
    pub sha256: &'a str,
    /// A FLAC's audio MD5 as recorded at ingest, lower-case hex.
    pub audio_md5: Option<&'a str>,
    /// For an access copy: the masters it was made from, relative to the bag.
    pub derived_from: &'a [String],
}

/// The PREMIS 3 document for `item` (`collection/id`): its files in the order of their paths
/// (so the bag's record and `capstan log --premis` list them alike) and its events in the
/// order given (the log's order).
pub fn item_record(item: &str, files: &[File<'_>], events: &[Event]) -> String {
    let mut x = Xml::default();
    x.line(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    x.line(&format!(
        r#"<premis:premis xmlns:premis="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{NAMESPACE} {SCHEMA}" version="3.0">"#
    ));
    x.depth += 1;

    x.open(r#"premis:object xsi:type="premis:intellectualEntity" version="3.0""#);
    identifier(&mut x, "object", "local", item);
    x.close("premis:object");

    let mut files: Vec<&File<'_>> = files.iter().collect();
    files.sort_by_key(|f| f.path);
    for f in files {
        x.open(r#"premis:object xsi:type="premis:file" version="3.0""#);
        identifier(&mut x, "object", "local", &format!("{item}/{}", f.path));
        if let Some(md5) = f.audio_md5 {
            x.open("premis:significantProperties");
            x.leaf(
                "premis:significantPropertiesType",
                "audio MD5 (FLAC STREAMINFO: the decoded samples)",
            );
            x.leaf("premis:significantPropertiesValue", md5);
            x.close("premis:significantProperties");
        }
        x.open("premis:objectCharacteristics");
        x.leaf("premis:compositionLevel", "0");
        x.open("premis:fixity");
        x.leaf("premis:messageDigestAlgorithm", "SHA-256");
        x.leaf("premis:messageDigest", f.sha256);
        x.leaf("premis:messageDigestOriginator", "capstan");
        x.close("premis:fixity");
        if let Some(bytes) = f.bytes {
            x.leaf("premis:size", &bytes.to_string());
        }
        let (name, pronom) = format_of(f.path);
        x.open("premis:format");
        x.open("premis:formatDesignation");
        x.leaf("premis:formatName", name);
        x.close("premis:formatDesignation");
        if let Some(key) = pronom {
            x.open("premis:formatRegistry");
            x.leaf("premis:formatRegistryName", "PRONOM");
            x.leaf("premis:formatRegistryKey", key);
            x.close("premis:formatRegistry");
        }
        x.close("premis:format");
        x.close("premis:objectCharacteristics");
        x.leaf("premis:originalName", f.path);
        for source in f.derived_from {
            x.open("premis:relationship");
            x.leaf("premis:relationshipType", "derivation");
            x.leaf("premis:relationshipSubType", "has source");
            x.open("premis:relatedObjectIdentifier");
            x.leaf("premis:relatedObjectIdentifierType", "local");
            x.leaf(
                "premis:relatedObjectIdentifierValue",
                &format!("{item}/{source}"),
            );
            x.close("premis:relatedObjectIdentifier");
            x.close("premis:relationship");
        }
        x.close("premis:object");
    }

    for e in events {
        x.open(r#"premis:event version="3.0""#);
        identifier(&mut x, "event", "local", &event_id(e));
        x.leaf_with(
            "premis:eventType",
            &format!(r#"authority="eventType" authorityURI="{EVENT_TYPES}""#),
            &e.event_type.to_string(),
        );
        x.leaf("premis:eventDateTime", &e.date_time);
        x.open("premis:eventDetailInformation");
        x.leaf("premis:eventDetail", &e.detail);
        x.close("premis:eventDetailInformation");
        x.open("premis:eventOutcomeInformation");
        x.leaf("premis:eventOutcome", &e.outcome.to_string());
        x.close("premis:eventOutcomeInformation");
        x.open("premis:linkingAgentIdentifier");
        x.leaf("premis:linkingAgentIdentifierType", "local");
        x.leaf("premis:linkingAgentIdentifierValue", &e.agent);
        x.leaf("premis:linkingAgentRole", "executing program");
        x.close("premis:linkingAgentIdentifier");
        x.open("premis:linkingObjectIdentifier");
        x.leaf("premis:linkingObjectIdentifierType", "local");
        let object = match &e.file {
            Some(file) => format!("{}/{file}", e.item),
            None => e.item.to_string(),
        };
        x.leaf("premis:linkingObjectIdentifierValue", &object);
        x.close("premis:linkingObjectIdentifier");
        x.close("premis:event");
    }

    let mut agents: Vec<&str> = events.iter().map(|e| e.agent.as_str()).collect();
    agents.sort_unstable();
    agents.dedup();
    for agent in agents {
        x.open(r#"premis:agent version="3.0""#);
        identifier(&mut x, "agent", "local", agent);
        let (name, version) = match agent.split_once(' ') {
            Some((name, version)) if name == "capstan" => (name, Some(version)),
            _ => (agent, None),
        };
        x.leaf("premis:agentName", name);
        x.leaf("premis:agentType", "software");
        if let Some(v) = version {
            x.leaf("premis:agentVersion", v);
        }
        x.close("premis:agent");
    }

    x.depth -= 1;
    x.line("</premis:premis>");
    x.out
}

/// An event's identifier: the SHA-256 of its line in `events.jsonl`, so the same event has the
/// same identifier in every record written of it.
pub fn event_id(e: &Event) -> String {
    let line = serde_json::to_string(e).expect("events serialise");
    let digest = Sha256::digest(line.as_bytes());
    let mut id = String::with_capacity(7 + 64);
    id.push_str("sha256:");
    for b in digest {
        let _ = write!(id, "{b:02x}");
    }
    id
}

/// The format name and PRONOM key of a payload file, by its extension.
fn format_of(path: &str) -> (&'static str, Option<&'static str>) {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("flac") => ("FLAC", Some("fmt/279")),
        Some("json") => ("JSON", Some("fmt/817")),
        Some("wav") => ("Waveform Audio", Some("fmt/141")),
        Some("txt") => ("Plain Text File", Some("x-fmt/111")),
        Some("xml") => ("Extensible Markup Language", Some("fmt/101")),
        _ => ("unknown", None),
    }
}

fn identifier(x: &mut Xml, what: &str, kind: &str, value: &str) {
    x.open(&format!("premis:{what}Identifier"));
    x.leaf(&format!("premis:{what}IdentifierType"), kind);
    x.leaf(&format!("premis:{what}IdentifierValue"), value);
    x.close(&format!("premis:{what}Identifier"));
}

/// An indenting writer of the few XML shapes a PREMIS record needs.
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn line(&mut self, s: &str) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// `tag` may carry attributes; the closing tag is its first word.
    fn open(&mut self, tag: &str) {
        self.line(&format!("<{tag}>"));
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.line(&format!("</{name}>"));
    }

    fn leaf(&mut self, name: &str, text: &str) {
        self.line(&format!("<{name}>{}</{name}>", escape(text)));
    }

    fn leaf_with(&mut self, name: &str, attributes: &str, text: &str) {
        self.line(&format!("<{name} {attributes}>{}</{name}>", escape(text)));
    }
}

/// Text as XML 1.0 can hold it: markup escaped, forbidden characters replaced.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept as references so a consumer's whitespace handling cannot change them.
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, file: Option<&str>, detail: &str) -> Event {
        Event {
            copy: None,
            date_time: "2026-12-03T10:00:00Z".into(),
            event_type: event_type.into(),
            item: "tapes/a1".into(),
            file: file.map(str::to_string),
            outcome: "pass".into(),
            detail: detail.into(),
            agent: "capstan 0.1.0; libFLAC 1.5.0".into(),
        }
    }

    #[test]
    fn markup_and_characters_xml_cannot_hold_are_escaped() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("x\u{1}y\u{1b}[0m"), "x\u{FFFD}y\u{FFFD}[0m");
        assert_eq!(escape("line\nnext\ttab"), "line&#10;next&#9;tab");
        assert_eq!(escape("café ♪"), "café ♪");
    }

    #[test]
    fn objects_come_before_events_and_events_before_agents() {
        let files = [File {
            path: "data/a1_pm.flac",
            bytes: Some(1234),
            sha256: "ab",
            audio_md5: Some("cd"),
            derived_from: &[],
        }];
        let events = [
            event("ingestion", None, "1 take(s) from <a&b>.wav"),
            event(
                "message digest calculation",
                Some("data/a1_pm.flac"),
                "SHA-256 ab",
            ),
        ];
        let xml = item_record("tapes/a1", &files, &events);
        let first = |needle: &str| xml.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(first("<premis:object ") < first("<premis:event "));
        assert!(xml.rfind("</premis:object>").unwrap() < first("<premis:event "));
        assert!(xml.rfind("</premis:event>").unwrap() < first("<premis:agent "));
        // One agent for both events; its name and version told apart.
        assert_eq!(xml.matches("<premis:agent ").count(), 1);
        assert!(xml.contains("<premis:agentName>capstan</premis:agentName>"));
        assert!(xml.contains("<premis:agentVersion>0.1.0; libFLAC 1.5.0</premis:agentVersion>"));
        assert!(xml.contains("from &lt;a&amp;b&gt;.wav"));
        assert!(xml.contains(
            "<premis:linkingObjectIdentifierValue>tapes/a1/data/a1_pm.flac</premis:linkingObjectIdentifierValue>"
        ));
        // Within a file object, the schema's sequence: identifier, significant properties,
        // characteristics (level, fixity, size, format), original name.
        let order = [
            "<premis:objectIdentifierValue>tapes/a1/data/a1_pm.flac",
            "<premis:significantProperties>",
            "<premis:compositionLevel>",
            "<premis:fixity>",
            "<premis:size>1234",
            "<premis:formatRegistryKey>fmt/279",
            "<premis:originalName>data/a1_pm.flac",
        ];
        let at: Vec<usize> = order.iter().map(|n| first(n)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
        assert!(xml.ends_with("</premis:premis>\n"));
    }

    #[test]
    fn an_event_is_named_by_its_log_line_alone() {
        let a = event("ingestion", None, "x");
        let mut b = a.clone();
        assert_eq!(event_id(&a), event_id(&b));
        b.detail = "y".into();
        assert_ne!(event_id(&a), event_id(&b));
        assert_eq!(event_id(&a).len(), 7 + 64);
    }
}
