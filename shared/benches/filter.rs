//! The filter handler benchmark (being written).

fn main() {}
