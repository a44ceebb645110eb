//! Where takes come from. Today: WAV-family files (`wav`). Capture from an interface and the
//! demo tape arrive with the capture work, through the same ingest path.

pub mod wav;
