//! `enrich` (being written).
