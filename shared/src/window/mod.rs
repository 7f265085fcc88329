//! `window`: the aggregate function on Lambda's tumbling windows (enriched
//! stream -> reports).
//!
//! - [`fields`]: reads the few configured fields of an event's JSON in one pass.
//! - [`sketch`]: mergeable summaries: quantiles (DDSketch), distinct counts
//!   (HyperLogLog++), top-k (space-saving).
//! - [`state`]: a window's groups, flow edges and counters; merging; the
//!   compact, bounded codec for Lambda's `state` map (<= 1 MB).
//! - [`aggregate`]: the processor: event-time buckets inside the arrival-time
//!   window, late events routed to the late output, service-flow edges.
//! - [`report`]: the window report (NDJSON lines) written on the final invoke.
//! - [`handler`]: `KinesisTimeWindowEvent` in, state and `batchItemFailures` out.
//! - [`config`]: the `EDDY_*` variables.
//! - [`workload`]: building tumbling-window events (tests, fixtures, benchmarks).
//!
//! ```
//! use eddy::window::aggregate::{AggregateProcessor, Plan, Verdict, Window};
//! use eddy::window::config::AggregateConfig;
//! use eddy::event::{Coords, Data, Event};
//!
//! let plan = Plan::new(&AggregateConfig::default());
//! let window = Window { start_ms: 1_732_496_400_000, end_ms: 1_732_496_700_000 };
//! let mut processor = AggregateProcessor::new(&plan, window);
//! let json = r#"{"source":"svc-auth","time":"2024-11-25T01:01:00Z","http":{"status":503,"latency_ms":12}}"#;
//! let coords = Coords { record: 0, shard_id: "s", sequence_number: "1", subsequence_number: None,
//!                       partition_key: "k", approximate_arrival: 1_732_496_460.0.into() };
//! let event = Event { coords, data: Data::Json(json.into()), log: None, members: &[] };
//! assert_eq!(processor.fold(&event), Verdict::Folded);
//! assert_eq!(processor.state().totals.events, 1);
//! ```

pub mod aggregate;
pub mod config;
pub mod fields;
pub mod handler;
pub mod report;
pub mod sketch;
pub mod state;
pub mod workload;

pub use aggregate::{AggregateProcessor, Plan, Verdict, Window};
pub use config::AggregateConfig;
pub use handler::{Aggregate, AggregateError, AggregateSinks, WindowOutcome, WindowResponse};
pub use state::WindowState;
