//! The archive's settings, `ARCHIVE/.capstan/archive.toml`, written by hand or by
//! `capstan institution`, read by every ingest:
//!
//! ```toml
//! # The institution every item of this archive comes from: the bext Originator of its
//! # masters is "COUNTRY, ORGANISATION" (FADGI), and their LIST-INFO IARL the same.
//! [institution]
//! country = "US"            # ISO 3166-1 alpha-2, two capital letters
//! organisation = "LOC/RSS"
//!
//! # Copies of the archive on S3-compatible object storage (`capstan replica add`), each a
//! # tree of the archive's bags under its prefix: <prefix>/<collection>/<id>/<path in the bag>.
//! # Credentials are never written here: they come from AWS_ACCESS_KEY_ID and
//! # AWS_SECRET_ACCESS_KEY, or the shared credentials file (~/.aws/credentials, AWS_PROFILE).
//! [[replica]]
//! name = "offsite"
//! url = "s3://archive-copies/station-1"
//! endpoint = "https://s3.eu-west-2.amazonaws.com"
//! region = "eu-west-2"
//! path_style = false        # true for most self-hosted stores (MinIO, SeaweedFS, Garage)
//! auto = true               # every item ingested or captured is queued for it, durably, and
//!                           # sent as soon as it can be (default false: `capstan replicate`)
//!
//! # The archive's catalogue on PostgreSQL instead of `.capstan/catalogue.sqlite`, in a schema
//! # of its own (written by `capstan catalogue copy --to postgres://…`). The password, if the
//! # server wants one, comes from PGPASSWORD, never from this file.
//! [catalogue]
//! url = "postgres://capstan@db.example.org:5432/archive"
//! schema = "station_1"
//! ```
//!
//! An item's own `ORIGINATOR` (given, or carried from its source's bext), or its
//! `--meta COUNTRY=… --meta ORGANIZATION=…`, take precedence; an item left with no Originator at
//! all is refused. The file is opened like every file of `.capstan` (never through a link).

use super::confined::Access;
use super::{Archive, ArchiveError};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// The file's name in `.capstan`.
pub const FILE: &str = "archive.toml";

/// What `archive.toml` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub institution: Option<Institution>,
    #[serde(default, rename = "replica", skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<crate::replica::ReplicaSettings>,
    /// Where the archive's catalogue is, when on PostgreSQL (else `.capstan/catalogue.sqlite`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue: Option<crate::catalogue::CatalogueSettings>,
}

/// The institution of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Institution {
    /// ISO 3166-1 alpha-2 (`US`, `GB`).
    pub country: String,
    /// The organisation as its Originator names it (`LOC/RSS`, `British Library`).
    pub organisation: String,
}

impl Institution {
    /// Checks it: a two-letter capital country code, an organisation, and an Originator
    /// (`CC, ORG`) that fits bext's 32 bytes.
    pub fn new(country: &str, organisation: &str) -> Result<Institution, String> {
        let (country, organisation) = (country.trim(), organisation.trim());
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "country {country:?} is not an ISO 3166-1 code of two capital letters (US, GB, FR)"
            ));
        }
        if organisation.is_empty() || organisation.chars().any(char::is_control) {
            return Err(format!(
                "organisation {organisation:?} is empty or has a control character"
            ));
        }
        let i = Institution {
            country: country.to_string(),
            organisation: organisation.to_string(),
        };
        if i.originator().len() > 32 {
            return Err(format!(
                "\"{}\" is longer than the 32 bytes of bext's Originator: shorten the organisation (FADGI uses its initials, e.g. LOC/RSS)",
                i.originator()
            ));
        }
        Ok(i)
    }

    /// FADGI's Originator: `CC, ORG`.
    pub fn originator(&self) -> String {
        format!("{}, {}", self.country, self.organisation)
    }
}

fn bad(archive: &Archive, detail: String) -> ArchiveError {
    ArchiveError::Settings {
        path: archive.meta_dir().join(FILE),
        detail,
    }
}

/// The archive's settings (the defaults when it has no `archive.toml`).
pub fn read(archive: &Archive) -> Result<Settings, ArchiveError> {
    let f = match archive.open_meta_file(FILE, Access::Read) {
        Ok(f) => f,
        Err(ArchiveError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Settings::default())
        }
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    f.take(64 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| bad(archive, e.to_string()))?;
    let settings: Settings = toml::from_str(&text).map_err(|e| bad(archive, e.to_string()))?;
    if let Some(i) = &settings.institution {
        Institution::new(&i.country, &i.organisation).map_err(|e| bad(archive, e))?;
    }
    if let Some(c) = &settings.catalogue {
        c.check()
            .map_err(|e| bad(archive, format!("[catalogue]: {e}")))?;
    }
    for (n, r) in settings.replicas.iter().enumerate() {
        r.check()
            .map_err(|e| bad(archive, format!("replica {}: {e}", n + 1)))?;
        if settings.replicas[..n].iter().any(|o| o.name == r.name) {
            return Err(bad(archive, format!("two replicas are named {:?}", r.name)));
        }
    }
    Ok(settings)
}

/// Sets (or, with None, removes) where the archive's catalogue is (the rest of the file is
/// kept).
pub fn set_catalogue(
    archive: &Archive,
    catalogue: Option<crate::catalogue::CatalogueSettings>,
) -> Result<(), ArchiveError> {
    let mut settings = read(archive)?;
    if let Some(c) = &catalogue {
        c.check().map_err(|e| bad(archive, e))?;
    }
    settings.catalogue = catalogue;
    write(archive, &settings)
}

/// Sets the archive's institution (the rest of the file is kept).
pub fn set_institution(archive: &Archive, institution: Institution) -> Result<(), ArchiveError> {
    let mut settings = read(archive)?;
    settings.institution = Some(institution);
    write(archive, &settings)
}

/// Adds a replica (the rest of the file is kept); its name must be new.
pub fn add_replica(
    archive: &Archive,
    replica: crate::replica::ReplicaSettings,
) -> Result<(), ArchiveError> {
    let mut settings = read(archive)?;
    replica.check().map_err(|e| bad(archive, e))?;
    if settings.replicas.iter().any(|r| r.name == replica.name) {
        return Err(bad(
            archive,
            format!("the archive already has a replica named {:?}", replica.name),
        ));
    }
    settings.replicas.push(replica);
    write(archive, &settings)
}

fn write(archive: &Archive, settings: &Settings) -> Result<(), ArchiveError> {
    let text = format!(
        "# Capstan archive settings (see `capstan institution --help`, `capstan replica --help`).\n{}",
        toml::to_string(settings).expect("settings serialise")
    );
    archive.meta(true)?;
    let mut f = archive.open_meta_file(FILE, Access::ReadWriteCreate)?;
    f.set_len(0)
        .and_then(|()| f.write_all(text.as_bytes()))
        .and_then(|()| f.sync_all())
        .map_err(|e| bad(archive, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_institution_is_set_once_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        assert_eq!(read(&archive).unwrap(), Settings::default());
        let loc = Institution::new("US", "LOC/RSS").unwrap();
        assert_eq!(loc.originator(), "US, LOC/RSS");
        set_institution(&archive, loc.clone()).unwrap();
        assert_eq!(read(&archive).unwrap().institution, Some(loc));
        // Set again: replaced, not appended.
        set_institution(&archive, Institution::new("GB", "BL").unwrap()).unwrap();
        assert_eq!(
            read(&archive).unwrap().institution.unwrap().originator(),
            "GB, BL"
        );
    }

    #[test]
    fn a_bad_institution_or_file_is_refused_naming_the_file() {
        for (c, o) in [
            ("us", "X"),
            ("USA", "X"),
            ("US", ""),
            ("US", &"x".repeat(40)),
        ] {
            assert!(Institution::new(c, o).is_err(), "{c:?} {o:?}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::new(tmp.path());
        std::fs::create_dir_all(archive.meta_dir()).unwrap();
        for text in [
            "[institution]\ncountry = \"us\"\norganisation = \"X\"\n",
            "[institution]\ncountry = \"US\"\n",
            "colour = 1\n",
        ] {
            std::fs::write(archive.meta_dir().join(FILE), text).unwrap();
            let err = read(&archive).unwrap_err().to_string();
            assert!(err.contains("archive.toml"), "{err}");
        }
        // A link in its place is refused, not followed.
        std::fs::remove_file(archive.meta_dir().join(FILE)).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", archive.meta_dir().join(FILE)).unwrap();
        assert!(read(&archive).is_err());
    }
}
