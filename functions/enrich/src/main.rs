//! Lambda `enrich` (being written).

fn main() {}
