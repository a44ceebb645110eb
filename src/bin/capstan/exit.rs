//! The exit policy, written once: 0 all good, 1 a problem found (in the input, the item, the
//! archive), 2 could not run. Every command returns an [`ExitStatus`]; each library error type
//! converts into one here, so no command picks a number.

use std::process::ExitCode;

/// What a command's run came to, as the shell sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// 0: everything asked was done and nothing was wrong.
    Success,
    /// 1: the command ran and found a problem (bad input, an item that exists, a failed check).
    Problem,
    /// 2: the command could not run (archive unreadable, disk full, interrupted, no device).
    CouldNotRun,
}

impl ExitStatus {
    /// `Problem` when `found`, else `Success`.
    pub fn problem_if(found: bool) -> Self {
        if found {
            ExitStatus::Problem
        } else {
            ExitStatus::Success
        }
    }

    /// The worse of two outcomes.
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        let rank = |s: &ExitStatus| match s {
            ExitStatus::Success => 0,
            ExitStatus::Problem => 1,
            ExitStatus::CouldNotRun => 2,
        };
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }

    /// The library's numeric statuses (0, 1, 2) as one; anything else could not run.
    fn from_code(code: i64) -> Self {
        match code {
            0 => ExitStatus::Success,
            1 => ExitStatus::Problem,
            _ => ExitStatus::CouldNotRun,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(match s {
            ExitStatus::Success => 0,
            ExitStatus::Problem => 1,
            ExitStatus::CouldNotRun => 2,
        })
    }
}

impl From<&capstan::ingest::IngestError> for ExitStatus {
    fn from(e: &capstan::ingest::IngestError) -> Self {
        Self::from_code(i64::from(e.exit_code()))
    }
}

impl From<&capstan::ingest::IngestOutcome> for ExitStatus {
    /// An item in the archive whose events are only pending could not finish: 2.
    fn from(o: &capstan::ingest::IngestOutcome) -> Self {
        Self::from_code(i64::from(o.exit_code()))
    }
}

impl From<&capstan::batch::BatchError> for ExitStatus {
    fn from(e: &capstan::batch::BatchError) -> Self {
        Self::from_code(i64::from(e.exit_code()))
    }
}

impl ExitStatus {
    /// A batch's rows: a row not run (interrupted) means it could not finish, a failed row is a
    /// problem.
    pub fn from_batch(rows: &[capstan::batch::RowOutcome]) -> Self {
        Self::from_code(i64::from(capstan::batch::exit_code(rows)))
    }
}

impl From<&capstan::capture::CaptureError> for ExitStatus {
    fn from(e: &capstan::capture::CaptureError) -> Self {
        Self::from_code(i64::from(e.exit_code()))
    }
}

impl From<&capstan::restore::RestoreError> for ExitStatus {
    fn from(e: &capstan::restore::RestoreError) -> Self {
        Self::from_code(i64::from(e.exit_code()))
    }
}

impl From<&capstan::catalogue::CatalogueError> for ExitStatus {
    /// An item name that matches more than one collection is the operator's to correct: 1.
    fn from(e: &capstan::catalogue::CatalogueError) -> Self {
        match e {
            capstan::catalogue::CatalogueError::Ambiguous { .. } => ExitStatus::Problem,
            _ => ExitStatus::CouldNotRun,
        }
    }
}

impl From<&capstan::fixity::FixityError> for ExitStatus {
    fn from(_: &capstan::fixity::FixityError) -> Self {
        ExitStatus::CouldNotRun
    }
}

impl From<&capstan::watch::WatchError> for ExitStatus {
    fn from(_: &capstan::watch::WatchError) -> Self {
        ExitStatus::CouldNotRun
    }
}

impl From<&capstan::capture::device::DeviceError> for ExitStatus {
    fn from(_: &capstan::capture::device::DeviceError) -> Self {
        ExitStatus::CouldNotRun
    }
}

impl From<&capstan::profile::ProfileError> for ExitStatus {
    /// A profile that cannot be loaded means the command cannot run: 2.
    fn from(_: &capstan::profile::ProfileError) -> Self {
        ExitStatus::CouldNotRun
    }
}

impl From<&capstan::metadata::MetadataError> for ExitStatus {
    /// A bad `--meta` field is the operator's to correct: 1.
    fn from(_: &capstan::metadata::MetadataError) -> Self {
        ExitStatus::Problem
    }
}

impl From<&anyhow::Error> for ExitStatus {
    fn from(_: &anyhow::Error) -> Self {
        ExitStatus::CouldNotRun
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_statuses_are_the_documented_numbers() {
        let code = |s| format!("{:?}", ExitCode::from(s));
        assert_eq!(
            code(ExitStatus::Success),
            format!("{:?}", ExitCode::from(0))
        );
        assert_eq!(
            code(ExitStatus::Problem),
            format!("{:?}", ExitCode::from(1))
        );
        assert_eq!(
            code(ExitStatus::CouldNotRun),
            format!("{:?}", ExitCode::from(2))
        );
    }

    #[test]
    fn an_item_that_exists_is_a_problem_and_an_interrupted_ingest_could_not_run() {
        use capstan::archive::ArchiveError;
        use capstan::ingest::IngestError;
        let exists = IngestError::Archive(ArchiveError::ItemExists {
            collection: "demo".into(),
            id: "x".into(),
            path: "archive/demo/x".into(),
        });
        assert_eq!(ExitStatus::from(&exists), ExitStatus::Problem);
        assert_eq!(
            ExitStatus::from(&IngestError::Interrupted),
            ExitStatus::CouldNotRun
        );
    }

    #[test]
    fn an_ambiguous_item_name_is_a_problem_and_a_catalogue_failure_could_not_run() {
        use capstan::catalogue::CatalogueError;
        let ambiguous = CatalogueError::Ambiguous {
            path: "archive/.capstan/catalogue.sqlite".into(),
            name: "x".into(),
            candidates: vec!["a/x".into(), "b/x".into()],
        };
        assert_eq!(ExitStatus::from(&ambiguous), ExitStatus::Problem);
    }

    #[test]
    fn a_bad_meta_field_is_a_problem_and_an_unknown_profile_could_not_run() {
        let meta = capstan::metadata::parse_meta_arg("no equals sign").unwrap_err();
        assert_eq!(ExitStatus::from(&meta), ExitStatus::Problem);
        let profile = capstan::profile::Profile::load("no-such-profile").unwrap_err();
        assert_eq!(ExitStatus::from(&profile), ExitStatus::CouldNotRun);
    }

    #[test]
    fn problem_if_is_success_when_nothing_was_found() {
        assert_eq!(ExitStatus::problem_if(false), ExitStatus::Success);
        assert_eq!(ExitStatus::problem_if(true), ExitStatus::Problem);
    }
}
