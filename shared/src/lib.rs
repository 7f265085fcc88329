//! # eddy
//!
//! The core of Eddy's stream-processing Lambdas: the canonical [`event::Event`],
//! decoders from Kinesis record bytes to events ([`decode`]), the batch driver
//! that turns a Kinesis event into outcomes and a partial batch response
//! ([`batch`]), sinks ([`sink`]) and the processors each function runs.
//!
//! Processors are plain synchronous Rust; sinks are the only code that talks to
//! AWS. Layout and semantics: `DESIGN.md`.

pub mod archive;
pub mod aws;
pub mod batch;
pub mod config;
pub mod deadline;
pub mod decode;
pub mod enrich;
pub mod envelope;
pub mod event;
pub mod fraud;
pub mod gen;
pub mod json;
pub mod limits;
pub mod measure;
pub mod pipeline;
pub mod rules;
pub mod sink;
pub mod window;
pub mod workload;
