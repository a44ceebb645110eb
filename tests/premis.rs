//! PREMIS out: each new bag carries `premis.xml` (listed in its tag manifest), the item as
//! ingested, and Archivematica's PREMIS reader (`metsrw`'s premisrw, PyPI) reads from it the
//! same files, digests, audio MD5s, events and agents the bag and the event log hold.

mod common;

use common::*;
use std::path::Path;

/// Reads a premis.xml with metsrw and prints what it found as JSON.
const READER: &str = r#"
import json, sys
from lxml import etree
import metsrw
from metsrw.plugins import premisrw
ns = {"premis": premisrw.PREMIS_3_0_NAMESPACE}
tree = etree.parse(sys.argv[1])
root = tree.getroot()
assert root.tag == "{%s}premis" % ns["premis"], root.tag
assert root.get("version") == "3.0"
out = {"files": [], "entities": [], "events": [], "agents": []}
for el in root.findall("premis:object", ns):
    kind = el.get("{http://www.w3.org/2001/XMLSchema-instance}type")
    ident = el.findtext("premis:objectIdentifier/premis:objectIdentifierValue", namespaces=ns)
    if kind == "premis:intellectualEntity":
        out["entities"].append(ident)
        continue
    o = premisrw.PREMISObject.fromtree(el)
    out["files"].append({
        "id": o.identifier_value,
        "sha256": o.message_digest,
        "algorithm": o.message_digest_algorithm,
        "size": int(o.size),
        "format": o.format_name,
        "registry_key": o.format_registry_key,
        "audio_md5": el.findtext("premis:significantProperties/premis:significantPropertiesValue", namespaces=ns),
        "sources": [r.findtext("premis:relatedObjectIdentifier/premis:relatedObjectIdentifierValue", namespaces=ns)
                    for r in el.findall("premis:relationship", ns)],
    })
for el in root.findall("premis:event", ns):
    e = premisrw.PREMISEvent.fromtree(el)
    out["events"].append({
        "id": e.identifier_value,
        "type": e.event_type,
        "date_time": e.event_date_time,
        "outcome": e.event_outcome,
        "agent": el.findtext("premis:linkingAgentIdentifier/premis:linkingAgentIdentifierValue", namespaces=ns),
        "object": el.findtext("premis:linkingObjectIdentifier/premis:linkingObjectIdentifierValue", namespaces=ns),
    })
for el in root.findall("premis:agent", ns):
    a = premisrw.PREMISAgent.fromtree(el)
    out["agents"].append({"id": a.identifier_value, "name": a.agent_name, "type": a.agent_type})
print(json.dumps(out))
"#;

fn read_premis(path: &Path) -> serde_json::Value {
    let python = venv_python();
    let out = run(std::process::Command::new(python)
        .arg("-c")
        .arg(READER)
        .arg(path));
    assert!(
        out.status.success(),
        "metsrw could not read {}: {}",
        path.display(),
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn manifest(bag: &Path, name: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(bag.join(name))
        .unwrap()
        .lines()
        .map(|l| {
            let (digest, path) = l.split_once("  ").unwrap();
            (path.to_string(), digest.to_string())
        })
        .collect()
}

#[test]
fn a_new_bag_carries_its_premis_record_which_metsrw_reads_as_the_bag_and_log_say() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let profile_path = tmp.path().join("disc.toml");
    std::fs::write(
        &profile_path,
        "[carrier]\ndescription = \"test disc\"\n[signal]\nsample_rate = 48000\nbit_depth = 24\n\
         channels = [\"Left\", \"Right\"]\n[metadata]\nrequired = [\"TITLE\"]\n\
         [access_copy]\nenabled = true\n",
    )
    .unwrap();
    let spec = WavSpec::pcm(2, 48000, 24);
    let wav = tmp.path().join("side <a> & b.wav");
    write_wav(&wav, &spec, &signal(2, 48000, 24, 0.5));
    let out = run(&mut ingest_command(
        &archive,
        &profile_path,
        "d1",
        "discs",
        &[&wav],
        &["TITLE=A disc"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bag = archive.join("discs/d1");
    assert_valid_bag(&bag);

    // Listed in the tag manifest, so BagIt validators check it like any tag file.
    let tags = manifest(&bag, "tagmanifest-sha256.txt");
    assert!(tags.iter().any(|(p, _)| p == "premis.xml"), "{tags:?}");

    let premis = read_premis(&bag.join("premis.xml"));
    assert_eq!(premis["entities"], serde_json::json!(["discs/d1"]));

    // Every payload file, with the manifest's digest and its size on disk.
    let payload = manifest(&bag, "manifest-sha256.txt");
    let files = premis["files"].as_array().unwrap();
    assert_eq!(files.len(), payload.len(), "{files:?}");
    for (path, digest) in &payload {
        let f = files
            .iter()
            .find(|f| f["id"] == format!("discs/d1/{path}"))
            .unwrap_or_else(|| panic!("{path} not in premis.xml"));
        assert_eq!(f["sha256"], digest.as_str(), "{path}");
        assert_eq!(f["algorithm"], "SHA-256");
        let size = std::fs::metadata(bag.join(path)).unwrap().len();
        assert_eq!(f["size"], size, "{path}");
    }

    // The masters' and the access copy's audio MD5s are the QC report's; the access copy
    // names the master it came from.
    let qc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bag.join("data/d1.qc.json")).unwrap()).unwrap();
    let take = &qc["takes"][0];
    let master = take["masters"][0]["file"].as_str().unwrap();
    let access = take["access_copy"]["file"].as_str().unwrap();
    let of = |p: &str| {
        files
            .iter()
            .find(|f| f["id"] == format!("discs/d1/{p}"))
            .unwrap()
            .clone()
    };
    assert_eq!(of(master)["audio_md5"], take["masters"][0]["audio_md5"]);
    assert_eq!(of(master)["format"], "FLAC");
    assert_eq!(of(master)["registry_key"], "fmt/279");
    assert_eq!(of(access)["audio_md5"], take["access_copy"]["audio_md5"]);
    assert_eq!(
        of(access)["sources"],
        serde_json::json!([format!("discs/d1/{master}")])
    );
    assert_eq!(of("data/d1.qc.json")["audio_md5"], serde_json::Value::Null);

    // The events are the log's, one for one, each named by its log line's digest.
    let log = std::fs::read(archive.join(".capstan/events.jsonl")).unwrap();
    let logged: Vec<capstan::archive::events::Event> = log
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| capstan::archive::events::parse_line(l).unwrap())
        .collect();
    let events = premis["events"].as_array().unwrap();
    assert_eq!(events.len(), logged.len(), "{events:?}");
    for (e, l) in events.iter().zip(&logged) {
        assert_eq!(e["type"], l.event_type.to_string());
        assert_eq!(e["outcome"], l.outcome.to_string());
        assert_eq!(e["date_time"], l.date_time);
        assert_eq!(e["agent"], l.agent);
        assert_eq!(e["id"], capstan::archive::premis::event_id(l));
        let object = match &l.file {
            Some(f) => format!("{}/{f}", l.item),
            None => l.item.to_string(),
        };
        assert_eq!(e["object"], object);
    }
    assert_eq!(
        premis["agents"],
        serde_json::json!([{"id": logged[0].agent, "name": "capstan", "type": "software"}])
    );
}

/// `capstan log ITEM --premis` gives the item's record from the catalogue: right after ingest
/// it is the bag's own premis.xml byte for byte; after a verification it holds that event too,
/// and metsrw reads it.
#[test]
fn log_premis_prints_the_items_whole_record_which_metsrw_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    common::institution(&archive);
    let wav = tmp.path().join("take.wav");
    write_wav(
        &wav,
        &WavSpec::pcm(2, 48_000, 16),
        &signal(2, 48_000, 16, 0.5),
    );
    let out = run(&mut ingest_command(
        &archive,
        "dat",
        "t1",
        "tapes",
        &[&wav],
        &["TITLE=T"],
    ));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let bag = archive.join("tapes/t1");
    let log_premis = |item: &str| {
        run(capstan()
            .args(["log", item, "--premis", "--archive"])
            .arg(&archive))
    };
    let o = log_premis("t1");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        std::fs::read_to_string(bag.join("premis.xml")).unwrap()
    );

    let v = run(capstan().arg("verify").arg(&archive));
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let o = log_premis("tapes/t1");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let exported = tmp.path().join("t1.premis.xml");
    std::fs::write(&exported, &o.stdout).unwrap();
    let premis = read_premis(&exported);
    let events = premis["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["type"] == "fixity check"),
        "{events:?}"
    );
    assert_eq!(premis["entities"], serde_json::json!(["tapes/t1"]));

    // An unknown item is exit 1; --premis needs an item; it and --json exclude each other.
    assert_eq!(log_premis("nope").status.code(), Some(1));
    let o = run(capstan()
        .args(["log", "--premis", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(capstan()
        .args(["log", "t1", "--premis", "--json", "--archive"])
        .arg(&archive));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
