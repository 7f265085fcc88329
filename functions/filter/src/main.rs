//! Lambda `filter` (being written).

fn main() {}
