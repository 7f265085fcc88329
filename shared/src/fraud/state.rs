//! What detect remembers per key, between invocations: a user's logins, a
//! card's transactions, a source IP's failed logins. Every list is capped
//! ([`Caps`]), so an item's encoded size has a bound known at init
//! ([`super::codec::max_encoded_bytes`]) whatever the traffic.
//!
//! Device ids and IP addresses are kept as 64-bit hashes (FNV-1a): enough to
//! tell a known one from a new one, and no personal data in the table beyond
//! the key itself and the recent login places.

use serde::{Deserialize, Serialize};

use crate::window::config::fnv1a;

/// Prefix of a user's partition key (`user#u-0000042`).
pub const USER_PREFIX: &str = "user#";
/// Prefix of a card's partition key (`card#card-1a2b3c`).
pub const CARD_PREFIX: &str = "card#";
/// Prefix of a source IP's partition key (`ip#203.0.113.7`).
pub const IP_PREFIX: &str = "ip#";

/// Most bytes of a country or city name kept in the state (longer ones are cut at a character boundary).
pub const MAX_NAME_BYTES: usize = 48;

/// What a state item is about: the table's partition key is its [`Key::pk`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A user: logins (new device / IP / country, impossible travel, failed logins).
    User(String),
    /// A card: transactions (velocity, amount far above the mean).
    Card(String),
    /// A source IP: failed logins across users.
    Ip(String),
}

impl Key {
    /// The partition key: `user#ID`, `card#ID` or `ip#ADDRESS`.
    pub fn pk(&self) -> String {
        let (prefix, id) = match self {
            Key::User(id) => (USER_PREFIX, id),
            Key::Card(id) => (CARD_PREFIX, id),
            Key::Ip(id) => (IP_PREFIX, id),
        };
        let mut pk = String::with_capacity(prefix.len() + id.len());
        pk.push_str(prefix);
        pk.push_str(id);
        pk
    }

    /// The key of a partition key written by [`Key::pk`].
    pub fn from_pk(pk: &str) -> Option<Key> {
        if let Some(id) = pk.strip_prefix(USER_PREFIX) {
            Some(Key::User(id.to_string()))
        } else if let Some(id) = pk.strip_prefix(CARD_PREFIX) {
            Some(Key::Card(id.to_string()))
        } else {
            pk.strip_prefix(IP_PREFIX).map(|id| Key::Ip(id.to_string()))
        }
    }
}

/// The caps on every list in a state item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Known devices, IPs and countries kept per user (each; the least recently seen go first).
    pub known: usize,
    /// Recent login places kept per user.
    pub locations: usize,
    /// Recent failed logins (per user, per IP) and transactions (per card) kept in the sliding period.
    pub window_events: usize,
    /// Fingerprints of the events applied last, kept to skip them when a batch is replayed.
    pub applied: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self { known: 16, locations: 8, window_events: 64, applied: 256 }
    }
}

/// A key's state: its profile and the events already applied to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    /// Fingerprints of the most recently applied events, oldest first (see [`Caps::applied`]).
    pub applied: Vec<u64>,
    /// What is known about the key.
    pub profile: Profile,
}

impl KeyState {
    /// The empty state of a key never seen.
    pub fn new(key: &Key) -> Self {
        let profile = match key {
            Key::User(_) => Profile::User(UserProfile::default()),
            Key::Card(_) => Profile::Card(CardProfile::default()),
            Key::Ip(_) => Profile::Ip(IpProfile::default()),
        };
        Self { applied: Vec::new(), profile }
    }

    /// Whether the event with this fingerprint was applied already.
    pub fn has_applied(&self, fingerprint: u64) -> bool {
        self.applied.contains(&fingerprint)
    }

    /// Remembers an applied event, forgetting the oldest beyond `cap`.
    pub fn mark_applied(&mut self, fingerprint: u64, cap: usize) {
        push_capped(&mut self.applied, fingerprint, cap);
    }

    /// Whether the profile is of the key's kind (a state of another kind is treated as damaged).
    pub fn fits(&self, key: &Key) -> bool {
        matches!(
            (key, &self.profile),
            (Key::User(_), Profile::User(_)) | (Key::Card(_), Profile::Card(_)) | (Key::Ip(_), Profile::Ip(_))
        )
    }
}

/// The profile of one kind of key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Profile {
    /// A user's.
    User(UserProfile),
    /// A card's.
    Card(CardProfile),
    /// A source IP's.
    Ip(IpProfile),
}

/// A user's logins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    /// Event time of the first login seen (ms since the epoch).
    pub first_seen_ms: Option<i64>,
    /// Successful logins applied.
    pub logins: u32,
    /// Known devices (hashed), least recently seen first.
    pub devices: Vec<Seen>,
    /// Known source IPs (hashed), least recently seen first.
    pub ips: Vec<Seen>,
    /// Known countries, least recently seen first.
    pub countries: Vec<SeenName>,
    /// Places of the most recent successful logins that had coordinates, oldest first.
    pub locations: Vec<Place>,
    /// Times of recent failed logins (ms), oldest first.
    pub failures: Vec<i64>,
    /// When the last brute-force alert on this user was raised (ms).
    pub brute_force_alert_ms: Option<i64>,
}

/// A card's transactions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CardProfile {
    /// Recent transactions: (time ms, amount), oldest first.
    pub recent: Vec<(i64, f64)>,
    /// Running mean and variance of the amounts.
    pub amounts: Welford,
    /// When the last velocity alert on this card was raised (ms).
    pub velocity_alert_ms: Option<i64>,
}

/// A source IP's failed logins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpProfile {
    /// Recent failed logins: (time ms, hash of the user), oldest first.
    pub failures: Vec<(i64, u64)>,
    /// When the last brute-force alert on this IP was raised (ms).
    pub brute_force_alert_ms: Option<i64>,
}

/// A hashed value and when it was last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// FNV-1a of the value.
    pub hash: u64,
    /// Last seen (event time, ms).
    pub last_ms: i64,
}

/// A short name (a country code) and when it was last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenName {
    /// The name, at most [`MAX_NAME_BYTES`].
    pub name: String,
    /// Last seen (event time, ms).
    pub last_ms: i64,
}

/// Where and when a login happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Event time (ms).
    pub time_ms: i64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Country code, when known (at most [`MAX_NAME_BYTES`]).
    pub country: Option<String>,
    /// City, when known (at most [`MAX_NAME_BYTES`]).
    pub city: Option<String>,
}

/// Welford's running mean and variance: one pass, numerically stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Welford {
    /// Values seen.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Welford {
    /// Adds a value (non-finite values are ignored).
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// The sample variance (0 with fewer than two values).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).max(0.0)
        }
    }

    /// The sample standard deviation.
    pub fn std_dev(&self) -> f64 {
        self.variance().sqrt()
    }
}

/// Appends `value`, dropping the oldest entries beyond `cap`.
pub(crate) fn push_capped<T>(list: &mut Vec<T>, value: T, cap: usize) {
    list.push(value);
    if list.len() > cap {
        let excess = list.len() - cap;
        list.drain(..excess);
    }
}

/// Marks `hash` seen at `time_ms`: moves it to the end (most recent) or adds
/// it, forgetting the least recently seen beyond `cap`. Says whether it was new.
pub(crate) fn touch_seen(list: &mut Vec<Seen>, hash: u64, time_ms: i64, cap: usize) -> bool {
    let known = list.iter().position(|s| s.hash == hash);
    let last_ms = match known {
        Some(i) => list.remove(i).last_ms.max(time_ms),
        None => time_ms,
    };
    push_capped(list, Seen { hash, last_ms }, cap);
    known.is_none()
}

/// Like [`touch_seen`] for names.
pub(crate) fn touch_name(list: &mut Vec<SeenName>, name: &str, time_ms: i64, cap: usize) -> bool {
    let known = list.iter().position(|s| s.name == name);
    let last_ms = match known {
        Some(i) => list.remove(i).last_ms.max(time_ms),
        None => time_ms,
    };
    push_capped(list, SeenName { name: name.to_string(), last_ms }, cap);
    known.is_none()
}

/// The stable hash of a device id, IP address or user id as kept in the state.
pub fn hash_value(value: &str) -> u64 {
    fnv1a(value.as_bytes())
}

/// `s` cut to at most [`MAX_NAME_BYTES`] at a character boundary.
pub fn clip_name(s: &str) -> String {
    if s.len() <= MAX_NAME_BYTES {
        return s.to_string();
    }
    let mut end = MAX_NAME_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_partition_keys() {
        for key in [Key::User("u-1".into()), Key::Card("card-9".into()), Key::Ip("203.0.113.7".into())] {
            assert_eq!(Key::from_pk(&key.pk()), Some(key));
        }
        assert_eq!(Key::from_pk("device#x"), None);
    }

    #[test]
    fn touching_moves_a_known_value_to_the_end_and_caps_the_list() {
        let mut list = Vec::new();
        assert!(touch_seen(&mut list, 1, 10, 2));
        assert!(touch_seen(&mut list, 2, 20, 2));
        assert!(!touch_seen(&mut list, 1, 30, 2));
        assert!(touch_seen(&mut list, 3, 40, 2));
        assert_eq!(list, [Seen { hash: 1, last_ms: 30 }, Seen { hash: 3, last_ms: 40 }]);
    }

    #[test]
    fn names_are_clipped_at_a_character_boundary() {
        let long = "é".repeat(40);
        let clipped = clip_name(&long);
        assert!(clipped.len() <= MAX_NAME_BYTES && long.starts_with(&clipped));
        assert_eq!(clip_name("Zürich"), "Zürich");
    }
}
