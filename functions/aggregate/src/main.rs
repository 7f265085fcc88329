//! Lambda `aggregate` (being written).

fn main() {}
