//! Incidents in progress: a bounded list of injected sequences (a burst of
//! failed logins, an outage), each emitting its next event when it is due.

/// One incident in progress.
#[derive(Debug, Clone)]
pub(crate) struct Active<S> {
    /// Event time (ms) from which its next event may be emitted.
    pub next_at: i64,
    /// Its number in the run: incidents are numbered from 0 in the order they start.
    pub serial: u64,
    /// Events emitted so far.
    pub step: u32,
    /// Events it emits in all.
    pub steps: u32,
    /// What the scenario needs to write its events.
    pub state: S,
}

/// At most `cap` incidents in progress.
#[derive(Debug, Clone)]
pub(crate) struct Incidents<S> {
    active: Vec<Active<S>>,
    cap: usize,
    /// One in `odds` events starts an incident (while fewer than `cap` are in progress).
    odds: u32,
    /// Incidents started so far (the next one's serial).
    started: u64,
}

impl<S> Incidents<S> {
    pub fn new(cap: usize, odds: u32) -> Self {
        Self { active: Vec::with_capacity(cap), cap, odds: odds.max(1), started: 0 }
    }

    /// Whether a new incident starts now (a draw is made only when there is room).
    pub fn should_start(&self, rng: &mut fastrand::Rng) -> bool {
        self.active.len() < self.cap && rng.u32(0..self.odds) == 0
    }

    /// Starts an incident of `steps` events (at least one), due at `now`.
    pub fn start(&mut self, now: i64, steps: u32, state: S) {
        if self.active.len() < self.cap {
            self.active.push(Active { next_at: now, serial: self.started, step: 0, steps: steps.max(1), state });
            self.started += 1;
        }
    }

    /// The first incident due at `now`, if any.
    pub fn due(&mut self, now: i64) -> Option<usize> {
        self.active.iter().position(|a| a.next_at <= now)
    }

    /// The incident at `i`.
    pub fn get(&mut self, i: usize) -> Option<&mut Active<S>> {
        self.active.get_mut(i)
    }

    /// Records that incident `i` emitted an event; it is next due `gap_ms`
    /// later, and leaves the list after its last step.
    pub fn advance(&mut self, i: usize, now: i64, gap_ms: i64) {
        if let Some(a) = self.active.get_mut(i) {
            a.step += 1;
            a.next_at = now + gap_ms.max(0);
            if a.step >= a.steps {
                self.active.remove(i);
            }
        }
    }

    /// The numbers of the incidents in progress.
    pub fn serials(&self) -> Vec<u64> {
        self.active.iter().map(|a| a.serial).collect()
    }

    /// Incidents in progress.
    pub fn len(&self) -> usize {
        self.active.len()
    }
}
