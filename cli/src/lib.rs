//! # eddy-cli
//!
//! The library behind the `eddy` command's tooling that talks to the local
//! emulators: [`local`] (`eddy local up | run | put`), so that the
//! integration tests drive the same code the command runs, and [`ndjson`],
//! the reader of users' NDJSON input.

pub mod local;
pub mod ndjson;
