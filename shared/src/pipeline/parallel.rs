//! The embedded pipeline over several threads, as Lambda runs one invocation
//! per shard at a time and shards side by side: each thread runs a
//! [`Pipeline`] on the shards it owns (shard `i` on thread `i % threads`), fed
//! in input order, so every shard sees the same events, batches and windows
//! as on one thread, and the output tree is the same.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::run::{keep_rejected, rejected_sink, Pipeline, PipelineError, RawEvent, Settings, Totals};
use super::shards::ShardMap;
use crate::enrich::Enricher;
use crate::rules::RuleSet;
use crate::sink::kinesis::check_put;
use crate::sink::DirSink;
use crate::window::AggregateConfig;

/// Events handed to a thread at a time (one channel message).
const CHUNK_EVENTS: usize = 512;

/// Chunks a thread may have waiting: bounds the memory ahead of a slow thread.
const QUEUED_CHUNKS: usize = 8;

/// What one thread's functions are built from.
#[derive(Debug)]
pub struct Parts {
    /// Enrich's lookups (loaded once, shared by the threads).
    pub enricher: Arc<Enricher>,
    /// Filter's rules.
    pub rules: RuleSet,
    /// Aggregate's configuration.
    pub aggregate: AggregateConfig,
}

/// The pipeline on one thread (the caller's) or several.
pub enum Parallel {
    /// Everything on the calling thread.
    Inline(Box<Pipeline>),
    /// One pipeline per thread, events routed by shard.
    Threads(Box<Threads>),
}

/// The threads of a [`Parallel`] run and what the routing thread keeps itself.
pub struct Threads {
    map: ShardMap,
    workers: Vec<Worker>,
    chunks: Vec<Chunk>,
    rejected: DirSink,
    /// Events given, in all.
    events_in: u64,
    /// Events Kinesis would refuse, per reason (kept by this thread).
    refused: BTreeMap<&'static str, u64>,
}

/// Events for one thread, each with the shard its key maps to.
type Chunk = Vec<(usize, RawEvent)>;

struct Worker {
    sender: Option<SyncSender<Chunk>>,
    handle: Option<JoinHandle<Result<Totals, PipelineError>>>,
}

impl Parallel {
    /// A run over `parts.len()` threads (one set of parts per thread, capped
    /// at one thread per shard); with one, everything runs on the calling thread.
    pub fn new(settings: Settings, mut parts: Vec<Parts>) -> Result<Self, PipelineError> {
        parts.truncate(settings.shards.max(1) as usize);
        if parts.len() <= 1 {
            let Parts { enricher, rules, aggregate } =
                parts.pop().ok_or_else(|| worker_error(0, "no functions to run"))?;
            return Ok(Self::Inline(Box::new(Pipeline::new(settings, enricher, rules, aggregate))));
        }
        let workers = parts
            .into_iter()
            .enumerate()
            .map(|(index, parts)| Worker::spawn(index, settings.clone(), parts))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Threads(Box::new(Threads {
            map: ShardMap::new(settings.shards),
            chunks: workers.iter().map(|_| Vec::with_capacity(CHUNK_EVENTS)).collect(),
            workers,
            rejected: rejected_sink(&settings.out),
            events_in: 0,
            refused: BTreeMap::new(),
        })))
    }

    /// How many threads run the functions.
    pub fn threads(&self) -> usize {
        match self {
            Self::Inline(_) => 1,
            Self::Threads(t) => t.workers.len(),
        }
    }

    /// Puts one event into `raw` (see [`Pipeline::push`]).
    pub async fn push(&mut self, event: RawEvent) -> Result<(), PipelineError> {
        match self {
            Self::Inline(pipeline) => pipeline.push(event).await,
            Self::Threads(threads) => threads.push(event).await,
        }
    }

    /// Runs what is still buffered, closes every window and returns the totals of all threads.
    pub async fn finish(self) -> Result<Totals, PipelineError> {
        match self {
            Self::Inline(mut pipeline) => Ok(pipeline.finish().await?.clone()),
            Self::Threads(threads) => threads.finish(),
        }
    }
}

impl Threads {
    async fn push(&mut self, event: RawEvent) -> Result<(), PipelineError> {
        self.events_in += 1;
        if let Err(refusal) = check_put(&event.partition_key, &event.data) {
            *self.refused.entry(refusal.kind()).or_default() += 1;
            return keep_rejected(&self.rejected, self.events_in, event, &refusal).await;
        }
        let shard = self.map.shard_for(&event.partition_key);
        let worker = shard % self.workers.len();
        self.chunks[worker].push((shard, event));
        if self.chunks[worker].len() >= CHUNK_EVENTS {
            self.send(worker)?;
        }
        Ok(())
    }

    /// Hands thread `index` its waiting events; when it has stopped, its error.
    fn send(&mut self, index: usize) -> Result<(), PipelineError> {
        let chunk = std::mem::replace(&mut self.chunks[index], Vec::with_capacity(CHUNK_EVENTS));
        let sent = self.workers[index].sender.as_ref().is_some_and(|s| s.send(chunk).is_ok());
        match sent {
            true => Ok(()),
            false => Err(self.workers[index].join(index).err().unwrap_or_else(|| worker_error(index, "stopped early"))),
        }
    }

    fn finish(mut self) -> Result<Totals, PipelineError> {
        for index in 0..self.workers.len() {
            if !self.chunks[index].is_empty() {
                self.send(index)?;
            }
            // closing the channel tells the thread to finish
            self.workers[index].sender = None;
        }
        let mut totals = Totals::default();
        for (index, worker) in self.workers.iter_mut().enumerate() {
            totals.merge(worker.join(index)?);
        }
        // every event was counted here, the refused ones only here
        totals.events_in = self.events_in;
        totals.rejected = std::mem::take(&mut self.refused);
        Ok(totals)
    }
}

impl Worker {
    /// Starts thread `index`: the functions on the events it is sent, then its totals.
    fn spawn(index: usize, settings: Settings, parts: Parts) -> Result<Self, PipelineError> {
        Self::start(index, move |receiver| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| worker_error(index, &format!("no async runtime: {e}")))?;
            runtime.block_on(async move {
                let mut pipeline = Pipeline::new(settings, parts.enricher, parts.rules, parts.aggregate);
                while let Ok(chunk) = receiver.recv() {
                    for (shard, event) in chunk {
                        pipeline.push_to(shard, event).await?;
                    }
                }
                Ok(pipeline.finish().await?.clone())
            })
        })
    }

    /// Starts thread `index` doing `work` on the receiving end of its channel.
    fn start(
        index: usize,
        work: impl FnOnce(Receiver<Chunk>) -> Result<Totals, PipelineError> + Send + 'static,
    ) -> Result<Self, PipelineError> {
        let (sender, receiver) = sync_channel::<Chunk>(QUEUED_CHUNKS);
        let handle = std::thread::Builder::new()
            .name(format!("eddy-run-{index}"))
            .spawn(move || work(receiver))
            .map_err(|e| worker_error(index, &format!("cannot start: {e}")))?;
        Ok(Self { sender: Some(sender), handle: Some(handle) })
    }

    /// Waits for the thread to end: its totals, or why it stopped.
    fn join(&mut self, index: usize) -> Result<Totals, PipelineError> {
        self.sender = None;
        let handle = self.handle.take().ok_or_else(|| worker_error(index, "already ended"))?;
        handle.join().map_err(|_| worker_error(index, "panicked"))?
    }
}

impl Drop for Threads {
    /// Stops the threads of a run given up on (an error on the routing side):
    /// their channels close, they finish what they have and end.
    fn drop(&mut self) {
        for worker in &mut self.workers {
            worker.sender = None;
            if let Some(handle) = worker.handle.take() {
                let _ = handle.join();
            }
        }
    }
}

fn worker_error(worker: usize, message: &str) -> PipelineError {
    PipelineError::Worker { worker, message: message.to_string() }
}

/// The number of threads `eddy run` uses by default: the cores this process
/// may run on (one per shard at most is used).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose threads do `work` instead of the functions.
    fn threads_doing(
        dir: &std::path::Path,
        work: impl Fn(usize, Receiver<Chunk>) -> Result<Totals, PipelineError> + Send + Sync + Clone + 'static,
    ) -> Threads {
        let workers = (0..2)
            .map(|index| {
                let work = work.clone();
                Worker::start(index, move |receiver| work(index, receiver)).unwrap()
            })
            .collect();
        Threads {
            map: ShardMap::new(2),
            workers,
            chunks: vec![Vec::new(), Vec::new()],
            rejected: rejected_sink(dir),
            events_in: 0,
            refused: BTreeMap::new(),
        }
    }

    fn event(n: usize) -> RawEvent {
        RawEvent { partition_key: format!("key-{n}"), data: b"{}".to_vec(), arrival_ms: 0 }
    }

    #[tokio::test]
    async fn given_a_thread_that_fails_then_the_run_ends_with_its_error() {
        let dir = std::env::temp_dir().join(format!("eddy-parallel-{}", std::process::id()));
        let mut threads = threads_doing(&dir, |index, receiver| {
            if index == 1 {
                return Err(PipelineError::Handler { function: "enrich", message: "the lookups broke".into() });
            }
            while receiver.recv().is_ok() {}
            Ok(Totals::default())
        });
        let mut failed = None;
        for n in 0..100_000 {
            if let Err(e) = threads.push(event(n)).await {
                failed = Some(e);
                break;
            }
        }
        let error = failed.expect("the routing side learns that thread 1 stopped").to_string();
        assert_eq!(error, "enrich: the lookups broke");
    }

    #[tokio::test]
    async fn given_a_thread_that_panics_then_finishing_says_so_without_panicking() {
        let dir = std::env::temp_dir().join(format!("eddy-parallel-panic-{}", std::process::id()));
        let mut threads = threads_doing(&dir, |index, receiver| {
            while receiver.recv().is_ok() {}
            match index {
                0 => Ok(Totals { events_in: 1, ..Totals::default() }),
                _ => panic!("a bug"),
            }
        });
        for n in 0..10 {
            threads.push(event(n)).await.unwrap();
        }
        let error = threads.finish().unwrap_err();
        assert_eq!(error.to_string(), "pipeline thread 1: panicked");
    }
}
