//! The fraud view of an enriched event: a login or a card transaction, with
//! its time and place.
//!
//! Fields read (top level of the event's JSON object):
//!
//! | field | used for |
//! |---|---|
//! | `kind` | `login` or `transaction`; other kinds are dropped ([`NOT_FRAUD_RELEVANT`]) |
//! | `id` | the event's identity for replays (enrich always writes one); else its Kinesis coordinates |
//! | `time` | event time, RFC 3339 (enrich normalises it); else the record's arrival time |
//! | `user` | login: required; the user key |
//! | `outcome` | login: `success` (also `succeeded`, `ok`; the default when absent) or `failure` (`failed`, `fail`, `denied`) |
//! | `ip`, `device_id` | login: new IP / device, brute force per IP (failed logins) |
//! | `geo.lat`, `geo.lon`, `geo.country`, `geo.city` | where, as enrich resolved the IP (used first) |
//! | `location.lat`, `.lon`, `.country`, `.city` | where, as the login service resolved it (the fallback) |
//! | `card_id`, `amount` | transaction: required; the card key and the amount (a JSON number) |
//!
//! The place is the first of `geo` and `location` that has both `lat` and
//! `lon` (its country and city with it); when neither has coordinates, the
//! country of `geo`, else of `location`, still counts for "new country" and
//! no travel speed is computed.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::state::{clip_name, hash_value};

/// Drop reason: the event is neither a login nor a card transaction.
pub const NOT_FRAUD_RELEVANT: &str = "not a login or transaction";
/// Drop reason: a login without a `user` string.
pub const LOGIN_WITHOUT_USER: &str = "login without user";
/// Drop reason: a login whose `outcome` is neither a success nor a failure.
pub const UNKNOWN_OUTCOME: &str = "login outcome neither success nor failure";
/// Drop reason: a transaction without `card_id` or a numeric `amount`.
pub const TRANSACTION_WITHOUT_CARD: &str = "transaction without card_id or numeric amount";
/// Drop reason: fields of the wrong JSON type (e.g. `user` a number), or a text event.
pub const UNREADABLE_EVENT: &str = "event fields of the wrong type";
/// Drop reason: a plain text event (detect reads JSON objects only).
pub const NOT_JSON: &str = "text event, not a JSON object";
/// Drop reason: a key too long for the table (see [`crate::limits::DYNAMODB_MAX_PARTITION_KEY_BYTES`]).
pub const KEY_TOO_LONG: &str = "user, card or IP too long for a table key";

/// One login or transaction, owned (kept until the state is written).
#[derive(Debug, Clone, PartialEq)]
pub struct FraudEvent {
    /// The event's id (or its Kinesis coordinates).
    pub id: String,
    /// Its fingerprint: the hash of `id`, remembered in the state to skip replays.
    pub fingerprint: u64,
    /// Event time, ms since the epoch.
    pub time_ms: i64,
    /// What happened.
    pub activity: Activity,
}

/// A login or a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Activity {
    /// A login attempt.
    Login(Login),
    /// A card transaction.
    Transaction(Transaction),
}

/// A login attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    /// The user.
    pub user: String,
    /// Whether it succeeded.
    pub success: bool,
    /// The source IP.
    pub ip: Option<String>,
    /// The device id.
    pub device: Option<String>,
    /// Where it came from.
    pub place: Option<Where>,
}

/// A login's place: coordinates when known, country and city when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Where {
    /// Latitude and longitude, degrees.
    pub coords: Option<(f64, f64)>,
    /// Country code (at most [`super::state::MAX_NAME_BYTES`]).
    pub country: Option<String>,
    /// City (at most [`super::state::MAX_NAME_BYTES`]).
    pub city: Option<String>,
}

/// A card transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The card.
    pub card: String,
    /// The amount, in the card's currency.
    pub amount: f64,
}

impl Login {
    /// The hash of the device id, when there is one.
    pub fn device_hash(&self) -> Option<u64> {
        self.device.as_deref().map(hash_value)
    }

    /// The hash of the source IP, when there is one.
    pub fn ip_hash(&self) -> Option<u64> {
        self.ip.as_deref().map(hash_value)
    }
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    outcome: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    device_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    geo: Option<RawPlace<'a>>,
    #[serde(borrow, default)]
    location: Option<RawPlace<'a>>,
    #[serde(borrow, default)]
    card_id: Option<Cow<'a, str>>,
    #[serde(default)]
    amount: Option<f64>,
    #[serde(default)]
    alert: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct RawPlace<'a> {
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
    #[serde(borrow, default)]
    country: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    city: Option<Cow<'a, str>>,
}

/// A parsed event and whether its object already has an `alert` member.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The event.
    pub event: FraudEvent,
    /// Whether the JSON object has a top-level `alert` (the alert then replaces it).
    pub has_alert_key: bool,
}

/// Reads a login or transaction from an event's JSON object; `fallback_id`
/// and `fallback_time_ms` (the record's coordinates and arrival) serve when
/// the event has no `id` or readable `time`. The error is the drop reason.
pub fn parse(json: &str, fallback_id: impl FnOnce() -> String, fallback_time_ms: i64) -> Result<Parsed, &'static str> {
    let raw: RawEvent<'_> = serde_json::from_str(json).map_err(|_| UNREADABLE_EVENT)?;
    let activity = match raw.kind.as_deref() {
        Some("login") => Activity::Login(login(&raw)?),
        Some("transaction") => Activity::Transaction(transaction(&raw)?),
        _ => return Err(NOT_FRAUD_RELEVANT),
    };
    let id = match raw.id {
        Some(id) if !id.is_empty() => id.into_owned(),
        _ => fallback_id(),
    };
    let time_ms = raw.time.as_deref().and_then(time_ms).unwrap_or(fallback_time_ms);
    let fingerprint = hash_value(&id);
    Ok(Parsed { event: FraudEvent { id, fingerprint, time_ms, activity }, has_alert_key: raw.alert.is_some() })
}

fn login(raw: &RawEvent<'_>) -> Result<Login, &'static str> {
    let user = raw.user.as_deref().filter(|u| !u.is_empty()).ok_or(LOGIN_WITHOUT_USER)?;
    let success = match raw.outcome.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("success" | "succeeded" | "ok") => true,
        Some("failure" | "failed" | "fail" | "denied") => false,
        Some(_) => return Err(UNKNOWN_OUTCOME),
    };
    Ok(Login {
        user: user.to_string(),
        success,
        ip: non_empty(&raw.ip),
        device: non_empty(&raw.device_id),
        place: place(raw.geo.as_ref(), raw.location.as_ref()),
    })
}

fn transaction(raw: &RawEvent<'_>) -> Result<Transaction, &'static str> {
    let card = raw.card_id.as_deref().filter(|c| !c.is_empty()).ok_or(TRANSACTION_WITHOUT_CARD)?;
    let amount = raw.amount.filter(|a| a.is_finite()).ok_or(TRANSACTION_WITHOUT_CARD)?;
    Ok(Transaction { card: card.to_string(), amount })
}

fn non_empty(value: &Option<Cow<'_, str>>) -> Option<String> {
    value.as_deref().filter(|v| !v.is_empty()).map(str::to_string)
}

/// The first of `geo` and `location` with coordinates; else a country alone.
fn place(geo: Option<&RawPlace<'_>>, location: Option<&RawPlace<'_>>) -> Option<Where> {
    let coords = |p: &RawPlace<'_>| match (p.lat, p.lon) {
        (Some(lat), Some(lon)) if valid_coords(lat, lon) => Some((lat, lon)),
        _ => None,
    };
    let name = |v: &Option<Cow<'_, str>>| v.as_deref().filter(|s| !s.is_empty()).map(clip_name);
    for p in [geo, location].into_iter().flatten() {
        if let Some(c) = coords(p) {
            return Some(Where { coords: Some(c), country: name(&p.country), city: name(&p.city) });
        }
    }
    let country = [geo, location].into_iter().flatten().find_map(|p| name(&p.country))?;
    Some(Where { coords: None, country: Some(country), city: None })
}

fn valid_coords(lat: f64, lon: f64) -> bool {
    (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)
}

fn time_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_ok(json: &str) -> FraudEvent {
        parse(json, || "coords".into(), 7).unwrap().event
    }

    #[test]
    fn given_geo_and_location_when_parsed_then_geo_wins_and_location_is_the_fallback() {
        let both = r#"{"id":"e1","kind":"login","user":"u","time":"2024-11-25T01:00:00.000Z",
            "geo":{"lat":1.0,"lon":2.0,"country":"FR","city":"Paris"},"location":{"lat":3.0,"lon":4.0,"country":"US"}}"#;
        let Activity::Login(login) = parse_ok(both).activity else { panic!() };
        assert_eq!(login.place.unwrap().coords, Some((1.0, 2.0)));
        let country_only_geo = r#"{"kind":"login","user":"u","geo":{"country":"FR"},"location":{"lat":3.0,"lon":4.0,"country":"US","city":"NYC"}}"#;
        let event = parse_ok(country_only_geo);
        let Activity::Login(login) = event.activity else { panic!() };
        let place = login.place.unwrap();
        assert_eq!((place.coords, place.country.as_deref()), (Some((3.0, 4.0)), Some("US")));
        assert_eq!((event.id.as_str(), event.time_ms), ("coords", 7));
        let no_coords = r#"{"kind":"login","user":"u","geo":{"country":"FR"}}"#;
        let Activity::Login(login) = parse_ok(no_coords).activity else { panic!() };
        assert_eq!(login.place.unwrap(), Where { coords: None, country: Some("FR".into()), city: None });
    }

    #[test]
    fn given_events_that_are_not_usable_when_parsed_then_the_reason_says_why() {
        let reason = |json: &str| parse(json, String::new, 0).unwrap_err();
        assert_eq!(reason(r#"{"kind":"access"}"#), NOT_FRAUD_RELEVANT);
        assert_eq!(reason(r#"{"kind":"login"}"#), LOGIN_WITHOUT_USER);
        assert_eq!(reason(r#"{"kind":"login","user":"u","outcome":"maybe"}"#), UNKNOWN_OUTCOME);
        assert_eq!(reason(r#"{"kind":"transaction","card_id":"c","amount":"12"}"#), UNREADABLE_EVENT);
        assert_eq!(reason(r#"{"kind":"transaction","card_id":"c"}"#), TRANSACTION_WITHOUT_CARD);
        assert_eq!(reason(r#"{"kind":"login","user":42}"#), UNREADABLE_EVENT);
    }

    #[test]
    fn given_a_failed_login_and_an_alert_member_when_parsed_then_both_are_seen() {
        let parsed =
            parse(r#"{"id":"x","kind":"login","user":"u","outcome":"FAILED","alert":{"a":1}}"#, String::new, 0)
                .unwrap();
        assert!(parsed.has_alert_key);
        let Activity::Login(login) = parsed.event.activity else { panic!() };
        assert!(!login.success);
        assert_eq!(parsed.event.fingerprint, hash_value("x"));
    }
}
