//! The detectors: pure, synchronous functions of a key's state and one event
//! (its time is the event's own). Each updates the state and may return a
//! [`Finding`]: the detector, a score in `0.5..=1.0` (how far past its
//! threshold) and the evidence.
//!
//! - `unfamiliar-login` (user): a successful login from a device, IP or
//!   country the user has not used, once the user is warmed up (at least
//!   `warmup_logins` successful logins and `warmup` since first seen): a new
//!   user alerts on nothing. Score: 0.4 for a new country + 0.35 for a new
//!   device + 0.25 for a new IP, at least 0.5.
//! - `impossible-travel` (user): two successful logins whose great-circle
//!   distance (at least `min_travel_km`) over the time between them implies
//!   more than `max_speed_kmh`. Needs no warm-up: it is physics, not habit.
//! - `brute-force` (user, and source IP across users): at least
//!   `failures_per_user` (`failures_per_ip`) failed logins within
//!   `failures_period`; at most one alert per key and period.
//! - `card-velocity` (card): more than `velocity_count` transactions, or more
//!   than `velocity_amount` in all, within `velocity_period`; at most one
//!   alert per card and period.
//! - `card-amount` (card): an amount at least `amount_z` standard deviations
//!   and `amount_multiple` times above the card's running mean (Welford's),
//!   once the card has `amount_min_samples` transactions.

use super::event::{Activity, FraudEvent, Login, Transaction};
use super::state::{
    clip_name, hash_value, push_capped, touch_name, touch_seen, Caps, CardProfile, IpProfile, Key, KeyState, Place,
    Profile, UserProfile,
};

/// The detectors' thresholds and the state's caps.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Impossible travel: fastest believable speed, km/h.
    pub max_speed_kmh: f64,
    /// Impossible travel: shortest distance considered, km (geo lookups err by less).
    pub min_travel_km: f64,
    /// Card velocity: most transactions allowed in the period.
    pub velocity_count: usize,
    /// Card velocity: most amount allowed in the period (the card's currency).
    pub velocity_amount: f64,
    /// Card velocity: the sliding period, ms.
    pub velocity_period_ms: i64,
    /// Card amount: standard deviations above the mean.
    pub amount_z: f64,
    /// Card amount: times the mean.
    pub amount_multiple: f64,
    /// Card amount: transactions needed before judging.
    pub amount_min_samples: u64,
    /// Brute force: failed logins of one user that alert.
    pub failures_per_user: usize,
    /// Brute force: failed logins from one IP (any users) that alert.
    pub failures_per_ip: usize,
    /// Brute force: the sliding period, ms.
    pub failures_period_ms: i64,
    /// Warm-up: successful logins before unfamiliar logins alert.
    pub warmup_logins: u32,
    /// Warm-up: time since first seen before unfamiliar logins alert, ms.
    pub warmup_ms: i64,
    /// The state's caps.
    pub caps: Caps,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            max_speed_kmh: 900.0,
            min_travel_km: 500.0,
            velocity_count: 5,
            velocity_amount: 2_000.0,
            velocity_period_ms: 60_000,
            amount_z: 4.0,
            amount_multiple: 3.0,
            amount_min_samples: 10,
            failures_per_user: 3,
            failures_per_ip: 10,
            failures_period_ms: 60_000,
            warmup_logins: 5,
            warmup_ms: 0,
            caps: Caps::default(),
        }
    }
}

/// The detectors, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Detector {
    /// A login from a new device, IP or country.
    UnfamiliarLogin,
    /// Two logins too far apart for the time between them.
    ImpossibleTravel,
    /// Many failed logins.
    BruteForce,
    /// Many transactions, or much spent, on a card in a short time.
    CardVelocity,
    /// An amount far above the card's usual.
    CardAmount,
}

impl Detector {
    /// Every detector.
    pub const ALL: [Detector; 5] = [
        Detector::UnfamiliarLogin,
        Detector::ImpossibleTravel,
        Detector::BruteForce,
        Detector::CardVelocity,
        Detector::CardAmount,
    ];

    /// The name alerts carry (`impossible-travel`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Detector::UnfamiliarLogin => "unfamiliar-login",
            Detector::ImpossibleTravel => "impossible-travel",
            Detector::BruteForce => "brute-force",
            Detector::CardVelocity => "card-velocity",
            Detector::CardAmount => "card-amount",
        }
    }
}

/// What a detector found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Which detector.
    pub detector: Detector,
    /// How sure, `0.5..=1.0`.
    pub score: f64,
    /// Why.
    pub evidence: Evidence,
}

/// The evidence of a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// `unfamiliar-login`.
    Unfamiliar {
        /// The device was not known.
        new_device: bool,
        /// The IP was not known.
        new_ip: bool,
        /// The country, when it was not known.
        new_country: Option<String>,
        /// Countries known before.
        known_countries: Vec<String>,
        /// Devices known before.
        known_devices: usize,
        /// IPs known before.
        known_ips: usize,
        /// Successful logins before.
        logins: u32,
        /// The previous login's place, when known.
        previous: Option<Place>,
    },
    /// `impossible-travel`.
    Travel {
        /// The previous login.
        from: Place,
        /// This login.
        to: Place,
        /// Great-circle distance, km.
        distance_km: f64,
        /// Time between them, seconds.
        seconds: f64,
        /// The implied speed, km/h (infinite at 0 s).
        speed_kmh: f64,
        /// The threshold.
        max_kmh: f64,
    },
    /// `brute-force`.
    BruteForce {
        /// `user` or `ip`.
        scope: &'static str,
        /// Failed logins in the period.
        failures: usize,
        /// Distinct users among them (IP scope).
        users: Option<usize>,
        /// The period, seconds.
        period_s: i64,
        /// The threshold.
        threshold: usize,
    },
    /// `card-velocity`.
    Velocity {
        /// Transactions in the period, this one included.
        transactions: usize,
        /// Their amount.
        amount: f64,
        /// The period, seconds.
        period_s: i64,
        /// The count threshold.
        max_transactions: usize,
        /// The amount threshold.
        max_amount: f64,
    },
    /// `card-amount`.
    Amount {
        /// This transaction's amount.
        amount: f64,
        /// The card's mean before it.
        mean: f64,
        /// The card's standard deviation before it.
        std_dev: f64,
        /// Transactions behind the mean.
        samples: u64,
        /// Standard deviations above the mean (infinite when they never varied).
        z: f64,
    },
}

/// The keys an event updates: the user of a login (and the source IP of a
/// failed login), the card of a transaction.
pub fn keys_of(event: &FraudEvent) -> Vec<Key> {
    match &event.activity {
        Activity::Login(login) => {
            let mut keys = vec![Key::User(login.user.clone())];
            if let (false, Some(ip)) = (login.success, &login.ip) {
                keys.push(Key::Ip(ip.clone()));
            }
            keys
        }
        Activity::Transaction(tx) => vec![Key::Card(tx.card.clone())],
    }
}

/// Applies `event` to a key's state, pushing what the detectors find to
/// `out`. Returns `false`, changing nothing, when the event was applied
/// already (its fingerprint is in the state: a replayed batch).
pub fn apply(state: &mut KeyState, event: &FraudEvent, t: &Thresholds, out: &mut Vec<Finding>) -> bool {
    if state.has_applied(event.fingerprint) {
        return false;
    }
    let now = event.time_ms;
    match (&mut state.profile, &event.activity) {
        (Profile::User(user), Activity::Login(login)) if login.success => on_success(user, login, now, t, out),
        (Profile::User(user), Activity::Login(_)) => on_user_failure(user, now, t, out),
        (Profile::Ip(ip), Activity::Login(login)) if !login.success => on_ip_failure(ip, login, now, t, out),
        (Profile::Card(card), Activity::Transaction(tx)) => on_transaction(card, tx, now, t, out),
        // `keys_of` never pairs an event with a key of another kind
        _ => {}
    }
    state.mark_applied(event.fingerprint, t.caps.applied);
    true
}

fn on_success(user: &mut UserProfile, login: &Login, now: i64, t: &Thresholds, out: &mut Vec<Finding>) {
    let place = login.place.as_ref();
    let here = place.and_then(|p| {
        let (country, city) = (p.country.as_deref().map(clip_name), p.city.as_deref().map(clip_name));
        p.coords.map(|(lat, lon)| Place { time_ms: now, lat, lon, country, city })
    });
    if let (Some(here), Some(previous)) = (&here, user.locations.last()) {
        out.extend(impossible_travel(previous, here, t));
    }
    let country = place.and_then(|p| p.country.as_deref());
    if is_warm(user, now, t) {
        out.extend(unfamiliar(user, login, country));
    }
    let caps = &t.caps;
    user.logins = user.logins.saturating_add(1);
    see_first(user, now);
    if let Some(hash) = login.device_hash() {
        touch_seen(&mut user.devices, hash, now, caps.known);
    }
    if let Some(hash) = login.ip_hash() {
        touch_seen(&mut user.ips, hash, now, caps.known);
    }
    if let Some(country) = country {
        touch_name(&mut user.countries, &clip_name(country), now, caps.known);
    }
    if let Some(here) = here {
        push_capped(&mut user.locations, here, caps.locations);
    }
}

fn see_first(user: &mut UserProfile, now: i64) {
    user.first_seen_ms = Some(user.first_seen_ms.map_or(now, |first| first.min(now)));
}

/// Whether the user's baseline is established (see the module docs).
pub fn is_warm(user: &UserProfile, now: i64, t: &Thresholds) -> bool {
    user.logins >= t.warmup_logins && user.first_seen_ms.is_some_and(|first| now - first >= t.warmup_ms)
}

fn impossible_travel(from: &Place, to: &Place, t: &Thresholds) -> Option<Finding> {
    let distance_km = haversine_km((from.lat, from.lon), (to.lat, to.lon));
    if distance_km < t.min_travel_km {
        return None;
    }
    let seconds = (to.time_ms - from.time_ms).abs() as f64 / 1000.0;
    let speed_kmh = if seconds > 0.0 { distance_km / (seconds / 3600.0) } else { f64::INFINITY };
    if speed_kmh <= t.max_speed_kmh {
        return None;
    }
    Some(Finding {
        detector: Detector::ImpossibleTravel,
        score: ratio_score(speed_kmh / t.max_speed_kmh),
        evidence: Evidence::Travel {
            from: from.clone(),
            to: to.clone(),
            distance_km,
            seconds,
            speed_kmh,
            max_kmh: t.max_speed_kmh,
        },
    })
}

fn unfamiliar(user: &UserProfile, login: &Login, country: Option<&str>) -> Option<Finding> {
    let new_device = login.device_hash().is_some_and(|h| !user.devices.iter().any(|s| s.hash == h));
    let new_ip = login.ip_hash().is_some_and(|h| !user.ips.iter().any(|s| s.hash == h));
    let new_country = country.map(clip_name).filter(|c| !user.countries.iter().any(|s| &s.name == c));
    if !new_device && !new_ip && new_country.is_none() {
        return None;
    }
    let score = 0.4 * f64::from(u8::from(new_country.is_some()))
        + 0.35 * f64::from(u8::from(new_device))
        + 0.25 * f64::from(u8::from(new_ip));
    Some(Finding {
        detector: Detector::UnfamiliarLogin,
        score: score.max(0.5),
        evidence: Evidence::Unfamiliar {
            new_device,
            new_ip,
            new_country,
            known_countries: user.countries.iter().map(|s| s.name.clone()).collect(),
            known_devices: user.devices.len(),
            known_ips: user.ips.len(),
            logins: user.logins,
            previous: user.locations.last().cloned(),
        },
    })
}

fn on_user_failure(user: &mut UserProfile, now: i64, t: &Thresholds, out: &mut Vec<Finding>) {
    see_first(user, now);
    let period = t.failures_period_ms;
    user.failures.retain(|&at| at > now - period);
    push_capped(&mut user.failures, now, t.caps.window_events);
    let failures = user.failures.len();
    if failures >= t.failures_per_user && !alerted_within(user.brute_force_alert_ms, now, period) {
        user.brute_force_alert_ms = Some(now);
        out.push(brute_force("user", failures, None, t.failures_per_user, t));
    }
}

fn on_ip_failure(ip: &mut IpProfile, login: &Login, now: i64, t: &Thresholds, out: &mut Vec<Finding>) {
    let period = t.failures_period_ms;
    ip.failures.retain(|&(at, _)| at > now - period);
    push_capped(&mut ip.failures, (now, hash_value(&login.user)), t.caps.window_events);
    let failures = ip.failures.len();
    if failures >= t.failures_per_ip && !alerted_within(ip.brute_force_alert_ms, now, period) {
        ip.brute_force_alert_ms = Some(now);
        let mut users: Vec<u64> = ip.failures.iter().map(|&(_, u)| u).collect();
        users.sort_unstable();
        users.dedup();
        out.push(brute_force("ip", failures, Some(users.len()), t.failures_per_ip, t));
    }
}

fn brute_force(
    scope: &'static str,
    failures: usize,
    users: Option<usize>,
    threshold: usize,
    t: &Thresholds,
) -> Finding {
    Finding {
        detector: Detector::BruteForce,
        score: ratio_score(failures as f64 / threshold.max(1) as f64),
        evidence: Evidence::BruteForce { scope, failures, users, period_s: t.failures_period_ms / 1000, threshold },
    }
}

fn on_transaction(card: &mut CardProfile, tx: &Transaction, now: i64, t: &Thresholds, out: &mut Vec<Finding>) {
    let period = t.velocity_period_ms;
    card.recent.retain(|&(at, _)| at > now - period);
    push_capped(&mut card.recent, (now, tx.amount), t.caps.window_events);
    let transactions = card.recent.len();
    let amount: f64 = card.recent.iter().map(|&(_, a)| a).sum();
    let over = transactions > t.velocity_count || amount > t.velocity_amount;
    if over && !alerted_within(card.velocity_alert_ms, now, period) {
        card.velocity_alert_ms = Some(now);
        let ratio = (transactions as f64 / t.velocity_count.max(1) as f64).max(amount / t.velocity_amount);
        out.push(Finding {
            detector: Detector::CardVelocity,
            score: ratio_score(ratio),
            evidence: Evidence::Velocity {
                transactions,
                amount,
                period_s: period / 1000,
                max_transactions: t.velocity_count,
                max_amount: t.velocity_amount,
            },
        });
    }
    out.extend(amount_anomaly(card, tx.amount, t));
    card.amounts.push(tx.amount);
}

fn amount_anomaly(card: &CardProfile, amount: f64, t: &Thresholds) -> Option<Finding> {
    let stats = card.amounts;
    if stats.n < t.amount_min_samples || amount < t.amount_multiple * stats.mean || amount <= stats.mean {
        return None;
    }
    let std_dev = stats.std_dev();
    let z = if std_dev > 0.0 { (amount - stats.mean) / std_dev } else { f64::INFINITY };
    if z < t.amount_z {
        return None;
    }
    Some(Finding {
        detector: Detector::CardAmount,
        score: ratio_score(z / t.amount_z),
        evidence: Evidence::Amount { amount, mean: stats.mean, std_dev, samples: stats.n, z },
    })
}

fn alerted_within(last: Option<i64>, now: i64, period_ms: i64) -> bool {
    last.is_some_and(|at| (now - at).abs() < period_ms)
}

/// A score in `0.5..=1.0` from how far past its threshold a value is (`ratio` >= 1).
fn ratio_score(ratio: f64) -> f64 {
    if ratio.is_finite() {
        (1.0 - 0.5 / ratio.max(1.0)).clamp(0.5, 1.0)
    } else {
        1.0
    }
}

/// Great-circle distance between two (lat, lon) points in degrees, km.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let dp = p2 - p1;
    let dl = (b.1 - a.1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}
