//! The local event source mapping: what Lambda does between a Kinesis stream
//! and a function, done in-process against the emulator's shards.
//!
//! - [`settings`]: the mapping's settings from the template.
//! - [`shard`]: one shard's state machine (batching, checkpoints, retries,
//!   bisection, record age, tumbling windows), without I/O.
//! - [`response`]: reading the function's response as Lambda does.
//! - [`event`]: the Lambda events given to the function.
//! - [`destination`]: the on-failure destinations (S3, SQS).
//! - [`source`]: reading shards (Kinesis, or in memory).
//! - [`poller`]: the loop of one (mapping, shard), and what stops the loops.
//! - [`checkpoint`]: where each shard stopped, kept between runs.

pub mod checkpoint;
pub mod destination;
pub mod event;
pub mod poller;
pub mod response;
pub mod settings;
pub mod shard;
pub mod source;
