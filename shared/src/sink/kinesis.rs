//! `KinesisSink` (to be written).

/// Placeholder until written.
#[derive(Debug)]
pub struct KinesisSink;
