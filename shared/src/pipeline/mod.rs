//! The embedded pipeline behind `eddy run`: simulated shards, Lambda-like
//! batching and tumbling windows, the real handlers in-process.

pub mod parallel;
pub mod run;
pub mod shards;
