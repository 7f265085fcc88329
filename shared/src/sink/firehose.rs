//! `FirehoseSink` (to be written).

/// Placeholder until written.
#[derive(Debug)]
pub struct FirehoseSink;
