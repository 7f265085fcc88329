//! The enrich handler benchmark (being written).

fn main() {}
