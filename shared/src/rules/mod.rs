//! `rules` (being written).
