//! `window` (being written).
