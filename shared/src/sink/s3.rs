//! `S3Sink` (to be written).

/// Placeholder until written.
#[derive(Debug)]
pub struct S3Sink;
