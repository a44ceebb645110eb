//! Errors as the page receives them: `{code, message}`. The code is machine-readable (the page
//! decides what to offer: retry, fix a field, free disk); the message is the library's own
//! words, which already say what to do.

use serde::Serialize;

#[derive(Debug, Serialize, ts_rs::TS)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn journal(e: capstan::capture::journal::JournalError) -> Failure {
        Failure::new("journal", e.to_string())
    }

    pub fn archive(e: capstan::archive::ArchiveError) -> Failure {
        let code = match e {
            capstan::archive::ArchiveError::Confined { .. } => "archive_not_confined",
            _ => "archive",
        };
        Failure::new(code, e.to_string())
    }
}

impl From<capstan::profile::ProfileError> for Failure {
    fn from(e: capstan::profile::ProfileError) -> Failure {
        Failure::new("profile", e.to_string())
    }
}

impl From<capstan::catalogue::CatalogueError> for Failure {
    fn from(e: capstan::catalogue::CatalogueError) -> Failure {
        use capstan::catalogue::CatalogueError as E;
        let code = match e {
            E::Busy { .. } => "busy",
            E::Ambiguous { .. } => "ambiguous_item",
            E::NoArchive { .. } => "no_archive",
            E::Unreachable { .. } => "catalogue_unreachable",
            _ if e.advises_reindex() => "catalogue_needs_reindex",
            _ => "catalogue",
        };
        Failure::new(code, e.to_string())
    }
}

impl From<capstan::item::ItemError> for Failure {
    fn from(e: capstan::item::ItemError) -> Failure {
        use capstan::item::ItemError as E;
        match e {
            E::Catalogue(e) => e.into(),
            E::Unknown { .. } => Failure::new("unknown_item", e.to_string()),
            E::Name(_) => Failure::new("bad_name", e.to_string()),
            E::Report { .. } => Failure::new("item_report", e.to_string()),
            E::Master { .. } => Failure::new("master", e.to_string()),
        }
    }
}

impl From<capstan::fixity::FixityError> for Failure {
    fn from(e: capstan::fixity::FixityError) -> Failure {
        Failure::new("verify", e.to_string())
    }
}

impl From<capstan::capture::CaptureError> for Failure {
    fn from(e: capstan::capture::CaptureError) -> Failure {
        use capstan::capture::CaptureError as E;
        let code = match &e {
            E::Device(_) | E::Open { .. } => "device",
            E::Depth { .. } => "profile",
            E::DiskSpace { .. } => "disk_space",
            E::ItemExists { .. } => "item_exists",
            // No Originator: the operator gives COUNTRY and ORGANIZATION (or sets the
            // archive's institution).
            E::Metadata(_) | E::NoOriginator(_) => "bad_metadata",
            E::Journal { .. } | E::JournalSetup(_) => "journal",
            E::Finish { .. } => "not_finished",
        };
        Failure::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_crosses_as_code_and_message() {
        let f: Failure = capstan::profile::Profile::load("no-such-profile")
            .unwrap_err()
            .into();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["code"], "profile");
        assert!(v["message"].as_str().unwrap().contains("no-such-profile"));
        assert_eq!(v.as_object().unwrap().len(), 2);
    }
}
