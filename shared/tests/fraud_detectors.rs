//! The fraud detectors on hand-written sequences: GIVEN a key's history,
//! WHEN one more event is applied, THEN what it finds (or not), with its evidence.
#![allow(clippy::unwrap_used)]

use eddy::fraud::detect::{apply, haversine_km, Evidence, Finding, Thresholds};
use eddy::fraud::event::{Activity, FraudEvent, Login, Transaction, Where};
use eddy::fraud::state::{hash_value, Key, KeyState, Profile};
use eddy::fraud::Detector;

const T0: i64 = 1_732_496_400_000;
const NEW_YORK: (f64, f64, &str, &str) = (40.7128, -74.006, "US", "New York");
const BOSTON: (f64, f64, &str, &str) = (42.3601, -71.0589, "US", "Boston");
const LONDON: (f64, f64, &str, &str) = (51.5074, -0.1278, "GB", "London");

struct History {
    state: KeyState,
    t: Thresholds,
    n: u64,
}

impl History {
    fn user() -> Self {
        Self::of(Key::User("u-1".into()))
    }

    fn of(key: Key) -> Self {
        Self { state: KeyState::new(&key), t: Thresholds::default(), n: 0 }
    }

    fn with(mut self, f: impl FnOnce(&mut Thresholds)) -> Self {
        f(&mut self.t);
        self
    }

    /// Applies one event; returns the findings.
    fn then(&mut self, at_s: i64, activity: Activity) -> Vec<Finding> {
        self.n += 1;
        let id = format!("e-{}", self.n);
        let event = FraudEvent { fingerprint: hash_value(&id), id, time_ms: T0 + at_s * 1000, activity };
        let mut out = Vec::new();
        assert!(apply(&mut self.state, &event, &self.t, &mut out));
        out
    }
}

fn login(success: bool, device: &str, ip: &str, place: (f64, f64, &str, &str)) -> Activity {
    Activity::Login(Login {
        user: "u-1".into(),
        success,
        ip: Some(ip.into()),
        device: Some(device.into()),
        place: Some(Where {
            coords: Some((place.0, place.1)),
            country: Some(place.2.into()),
            city: Some(place.3.into()),
        }),
    })
}

fn ok(device: &str, ip: &str, place: (f64, f64, &str, &str)) -> Activity {
    login(true, device, ip, place)
}

fn failed(user: &str, ip: &str) -> Activity {
    Activity::Login(Login { user: user.into(), success: false, ip: Some(ip.into()), device: None, place: None })
}

fn spend(amount: f64) -> Activity {
    Activity::Transaction(Transaction { card: "card-1".into(), amount })
}

fn detectors(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.detector.name()).collect()
}

// --- unfamiliar-login ------------------------------------------------------------------

#[test]
fn given_a_brand_new_user_when_logging_in_from_ever_new_devices_then_nothing_alerts_during_warm_up() {
    let mut user = History::user();
    for i in 0..5 {
        let findings = user.then(i * 3600, ok(&format!("dev-{i}"), &format!("10.0.0.{i}"), NEW_YORK));
        assert!(findings.is_empty(), "login {i}: {findings:?}");
    }
}

#[test]
fn given_a_warmed_up_user_when_a_login_comes_from_a_new_device_then_unfamiliar_login_names_it() {
    let mut user = History::user();
    for i in 0..5 {
        user.then(i * 3600, ok("dev-a", "10.0.0.1", NEW_YORK));
    }
    assert!(user.then(6 * 3600, ok("dev-a", "10.0.0.1", NEW_YORK)).is_empty(), "known device, IP, country");

    let findings = user.then(7 * 3600, ok("dev-b", "10.0.0.1", NEW_YORK));

    assert_eq!(detectors(&findings), ["unfamiliar-login"]);
    let Evidence::Unfamiliar { new_device, new_ip, new_country, known_devices, logins, previous, .. } =
        &findings[0].evidence
    else {
        panic!("{findings:?}")
    };
    assert_eq!((*new_device, *new_ip, new_country.as_deref()), (true, false, None));
    assert_eq!((*known_devices, *logins), (1, 6));
    assert_eq!(previous.as_ref().unwrap().city.as_deref(), Some("New York"));
    assert!(user.then(8 * 3600, ok("dev-b", "10.0.0.1", NEW_YORK)).is_empty(), "dev-b is known now");
}

#[test]
fn given_a_warmed_up_user_when_device_ip_and_country_are_all_new_then_the_score_is_highest() {
    let mut user = History::user();
    for i in 0..5 {
        user.then(i * 86_400, ok("dev-a", "10.0.0.1", NEW_YORK));
    }
    let only_ip = user.then(5 * 86_400, ok("dev-a", "10.0.0.2", NEW_YORK));
    let everything = user.then(6 * 86_400, ok("dev-z", "192.0.2.9", LONDON));
    assert_eq!(detectors(&only_ip), ["unfamiliar-login"]);
    assert_eq!(detectors(&everything), ["unfamiliar-login"]);
    assert!(everything[0].score > only_ip[0].score);
    assert_eq!(everything[0].score, 1.0);
    let Evidence::Unfamiliar { new_country, known_countries, .. } = &everything[0].evidence else { panic!() };
    assert_eq!((new_country.as_deref(), known_countries.as_slice()), (Some("GB"), &["US".to_string()][..]));
}

#[test]
fn given_warm_up_days_when_enough_logins_come_too_soon_then_nothing_alerts_until_the_days_pass() {
    let mut user = History::user().with(|t| t.warmup_ms = 7 * 86_400_000);
    for i in 0..6 {
        user.then(i * 3600, ok("dev-a", "10.0.0.1", NEW_YORK));
    }
    assert!(user.then(86_400, ok("dev-new", "10.0.0.1", NEW_YORK)).is_empty(), "one day after first seen");
    let findings = user.then(8 * 86_400, ok("dev-newer", "10.0.0.1", NEW_YORK));
    assert_eq!(detectors(&findings), ["unfamiliar-login"]);
}

// --- impossible-travel -----------------------------------------------------------------

#[test]
fn given_a_login_in_new_york_when_the_next_comes_from_london_five_minutes_later_then_impossible_travel() {
    let mut user = History::user();
    user.then(0, ok("dev-a", "10.0.0.1", NEW_YORK));

    let findings = user.then(300, ok("dev-a", "10.0.0.1", LONDON));

    assert_eq!(detectors(&findings), ["impossible-travel"], "no warm-up needed");
    let Evidence::Travel { from, to, distance_km, seconds, speed_kmh, max_kmh } = &findings[0].evidence else {
        panic!()
    };
    assert_eq!((from.city.as_deref(), to.city.as_deref()), (Some("New York"), Some("London")));
    assert_eq!(from.time_ms, T0);
    assert!((5_550.0..5_600.0).contains(distance_km), "{distance_km}");
    assert_eq!((*seconds, *max_kmh), (300.0, 900.0));
    assert!((speed_kmh - distance_km * 12.0).abs() < 1e-6);
    assert!(findings[0].score > 0.95);
}

#[test]
fn given_two_logins_when_the_speed_is_believable_or_the_distance_small_then_no_travel_alert() {
    let mut user = History::user();
    user.then(0, ok("dev-a", "10.0.0.1", NEW_YORK));
    // 306 km in 5 minutes is fast, but below the 500 km geo-error floor
    assert!(user.then(300, ok("dev-a", "10.0.0.1", BOSTON)).is_empty());
    // Boston -> London in 8 hours: about 655 km/h
    assert!(user.then(300 + 8 * 3600, ok("dev-a", "10.0.0.1", LONDON)).is_empty());
    assert!(haversine_km((BOSTON.0, BOSTON.1), (LONDON.0, LONDON.1)) / 8.0 < 900.0);
}

#[test]
fn given_a_login_from_far_away_when_it_failed_then_travel_is_not_judged_on_it() {
    let mut user = History::user();
    user.then(0, ok("dev-a", "10.0.0.1", NEW_YORK));
    assert!(user.then(60, login(false, "dev-x", "192.0.2.1", LONDON)).is_empty());
    let Profile::User(profile) = &user.state.profile else { panic!() };
    assert_eq!(profile.locations.len(), 1, "failed logins do not move the user");
}

// --- brute-force -----------------------------------------------------------------------

#[test]
fn given_failed_logins_of_one_user_when_the_third_comes_within_a_minute_then_one_brute_force_alert() {
    let mut user = History::user();
    assert!(user.then(0, failed("u-1", "192.0.2.1")).is_empty());
    assert!(user.then(10, failed("u-1", "192.0.2.1")).is_empty());

    let third = user.then(20, failed("u-1", "192.0.2.1"));
    let fourth = user.then(30, failed("u-1", "192.0.2.1"));

    assert_eq!(detectors(&third), ["brute-force"]);
    let Evidence::BruteForce { scope, failures, users, period_s, threshold } = &third[0].evidence else { panic!() };
    assert_eq!((*scope, *failures, *users, *period_s, *threshold), ("user", 3, None, 60, 3));
    assert!(fourth.is_empty(), "one alert per period");
    // a minute and more later the old failures have left the window: three new ones alert again
    for at in [200, 210] {
        assert!(user.then(at, failed("u-1", "192.0.2.1")).is_empty());
    }
    assert_eq!(detectors(&user.then(220, failed("u-1", "192.0.2.1"))), ["brute-force"]);
}

#[test]
fn given_failures_spread_over_more_than_the_period_when_counted_then_they_do_not_add_up() {
    let mut user = History::user();
    for i in 0..10 {
        assert!(user.then(i * 31, failed("u-1", "192.0.2.1")).is_empty(), "failure {i}");
    }
}

#[test]
fn given_failed_logins_from_one_ip_across_users_when_they_reach_the_ip_threshold_then_brute_force_per_ip() {
    let mut ip = History::of(Key::Ip("192.0.2.1".into())).with(|t| t.failures_per_ip = 4);
    for (i, user) in ["u-1", "u-2", "u-3"].iter().enumerate() {
        assert!(ip.then(i as i64, failed(user, "192.0.2.1")).is_empty());
    }
    let findings = ip.then(3, failed("u-1", "192.0.2.1"));
    assert_eq!(detectors(&findings), ["brute-force"]);
    let Evidence::BruteForce { scope, failures, users, .. } = &findings[0].evidence else { panic!() };
    assert_eq!((*scope, *failures, *users), ("ip", 4, Some(3)));
}

// --- card-velocity and card-amount ------------------------------------------------------

#[test]
fn given_five_transactions_in_a_minute_when_a_sixth_comes_then_card_velocity_counts_them() {
    let mut card = History::of(Key::Card("card-1".into()));
    for i in 0..5 {
        assert!(card.then(i * 10, spend(20.0)).is_empty(), "transaction {i}");
    }
    let findings = card.then(50, spend(20.0));
    assert_eq!(detectors(&findings), ["card-velocity"]);
    let Evidence::Velocity { transactions, amount, period_s, max_transactions, .. } = &findings[0].evidence else {
        panic!()
    };
    assert_eq!((*transactions, *amount, *period_s, *max_transactions), (6, 120.0, 60, 5));
    assert!(card.then(55, spend(20.0)).is_empty(), "one alert per period");
}

#[test]
fn given_a_large_spend_in_a_minute_when_it_passes_the_amount_then_card_velocity_by_amount() {
    let mut card = History::of(Key::Card("card-1".into()));
    assert!(card.then(0, spend(1_500.0)).is_empty());
    let findings = card.then(30, spend(600.0));
    assert_eq!(detectors(&findings), ["card-velocity"]);
    let Evidence::Velocity { transactions, amount, .. } = &findings[0].evidence else { panic!() };
    assert_eq!((*transactions, *amount), (2, 2_100.0));
    // the same spend spread over hours is not velocity
    let mut slow = History::of(Key::Card("card-2".into()));
    assert!(slow.then(0, spend(1_500.0)).is_empty());
    assert!(slow.then(3_600, spend(600.0)).is_empty());
}

#[test]
fn given_a_card_with_a_steady_history_when_an_amount_far_above_its_mean_comes_then_card_amount() {
    let mut card = History::of(Key::Card("card-1".into()));
    let history = [40.0, 55.0, 48.0, 62.0, 51.0, 45.0, 58.0, 50.0, 47.0, 53.0];
    for (i, amount) in history.iter().enumerate() {
        assert!(card.then(i as i64 * 3_600, spend(*amount)).is_empty());
    }
    assert!(card.then(11 * 3_600, spend(70.0)).is_empty(), "within the usual spread");

    let findings = card.then(12 * 3_600, spend(900.0));

    assert_eq!(detectors(&findings), ["card-amount"]);
    let Evidence::Amount { amount, mean, std_dev, samples, z } = &findings[0].evidence else { panic!() };
    assert_eq!((*amount, *samples), (900.0, 11));
    let expected_mean = (history.iter().sum::<f64>() + 70.0) / 11.0;
    assert!((mean - expected_mean).abs() < 1e-9, "{mean}");
    assert!((z - (900.0 - mean) / std_dev).abs() < 1e-9 && *z > 4.0);
}

#[test]
fn given_too_few_transactions_when_a_large_amount_comes_then_card_amount_waits_for_its_samples() {
    let mut card = History::of(Key::Card("card-1".into()));
    for i in 0..9 {
        card.then(i * 3_600, spend(10.0));
    }
    assert!(card.then(10 * 3_600, spend(1_000.0)).is_empty(), "nine samples, ten needed");
}

// --- replays and bounds ----------------------------------------------------------------

#[test]
fn given_an_event_already_applied_when_it_is_applied_again_then_nothing_changes() {
    let mut user = History::user();
    let event = FraudEvent {
        id: "e-1".into(),
        fingerprint: hash_value("e-1"),
        time_ms: T0,
        activity: failed("u-1", "192.0.2.1"),
    };
    let mut out = Vec::new();
    assert!(apply(&mut user.state, &event, &user.t, &mut out));
    let before = user.state.clone();
    assert!(!apply(&mut user.state, &event, &user.t, &mut out));
    assert_eq!(user.state, before);
}

#[test]
fn given_more_devices_than_the_cap_when_logging_in_then_the_least_recently_seen_are_forgotten() {
    let mut user = History::user().with(|t| {
        t.caps.known = 3;
        t.caps.locations = 2;
        t.caps.applied = 4;
    });
    for i in 0..10 {
        user.then(i * 3600, ok(&format!("dev-{i}"), "10.0.0.1", NEW_YORK));
    }
    let Profile::User(profile) = &user.state.profile else { panic!() };
    let kept: Vec<u64> = profile.devices.iter().map(|s| s.hash).collect();
    assert_eq!(kept, ["dev-7", "dev-8", "dev-9"].map(hash_value));
    assert_eq!((profile.locations.len(), user.state.applied.len(), profile.logins), (2, 4, 10));
    assert_eq!(Detector::ALL.len(), 5);
}
