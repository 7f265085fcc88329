//! # eddy
//!
//! The core of Eddy's stream-processing Lambdas: the canonical [`event::Event`],
//! decoders from Kinesis record bytes to events ([`decode`]), the batch driver
//! that turns a Kinesis event into outcomes and a partial batch response
//! ([`batch`]), sinks ([`sink`]) and the processors each function runs.
//!
//! Processors are plain synchronous Rust; sinks are the only code that talks to
//! AWS. Layout and semantics: `DESIGN.md`.

pub mod aws;
pub mod deadline;
pub mod limits;
pub mod sink;
pub mod decode;
pub mod event;
pub mod json;
pub mod batch;
pub mod archive;
pub mod config;
pub mod workload;
pub mod enrich;
pub mod rules;
pub mod window;
