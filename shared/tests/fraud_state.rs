//! Properties of detect's state: Welford's running statistics agree with the
//! two-pass formulas; any state the detectors build round-trips through the
//! codec and stays within the size bound the configuration checks.
#![allow(clippy::unwrap_used)]

use eddy::fraud::codec::{decode, encode, max_encoded_bytes};
use eddy::fraud::detect::{apply, Thresholds};
use eddy::fraud::event::{Activity, FraudEvent, Login, Transaction, Where};
use eddy::fraud::state::{hash_value, Caps, Key, KeyState, Welford};
use proptest::prelude::*;

fn two_pass(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() < 2 { 0.0 } else { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) };
    (mean, var)
}

/// One generated event: kind selector, user/device/ip/card choice, place, amount, time step.
type Draw = (u8, u8, u8, String, (f64, f64), f64, u32, bool);

fn event(i: usize, d: &Draw, time_ms: i64) -> FraudEvent {
    let (kind, who, device, city, (lat, lon), amount, _, success) = d;
    let activity = if kind % 3 == 2 {
        Activity::Transaction(Transaction { card: format!("card-{}", who % 3), amount: *amount })
    } else {
        Activity::Login(Login {
            user: format!("u-{}", who % 3),
            success: *success,
            ip: Some(format!("10.0.{}.{}", who, device)),
            device: Some(format!("dev-{device}")),
            place: Some(Where {
                coords: Some((*lat, *lon)),
                country: Some(format!("C{}", device % 7)),
                city: Some(city.clone()),
            }),
        })
    };
    let id = format!("e-{i}");
    FraudEvent { fingerprint: hash_value(&id), id, time_ms, activity }
}

proptest! {
    #[test]
    fn welford_matches_the_two_pass_mean_and_variance(xs in prop::collection::vec(-1e6f64..1e6, 1..200)) {
        let mut w = Welford::default();
        for &x in &xs {
            w.push(x);
        }
        let (mean, var) = two_pass(&xs);
        prop_assert_eq!(w.n, xs.len() as u64);
        prop_assert!((w.mean - mean).abs() <= 1e-6 * (1.0 + mean.abs()), "{} vs {}", w.mean, mean);
        prop_assert!((w.variance() - var).abs() <= 1e-6 * (1.0 + var), "{} vs {}", w.variance(), var);
    }

    #[test]
    fn welford_stays_accurate_far_from_zero(offset in 1e6f64..1e9, xs in prop::collection::vec(0f64..10.0, 2..100)) {
        // the naive sum-of-squares formula loses every digit here; Welford's does not
        let shifted: Vec<f64> = xs.iter().map(|x| x + offset).collect();
        let mut w = Welford::default();
        shifted.iter().for_each(|&x| w.push(x));
        let (_, var) = two_pass(&xs);
        prop_assert!((w.variance() - var).abs() <= 1e-4 * (1.0 + var), "{} vs {}", w.variance(), var);
    }

    #[test]
    fn any_state_the_detectors_build_round_trips_and_stays_within_the_bound(
        draws in prop::collection::vec(
            (0u8..3, 0u8..5, 0u8..40, "\\PC{0,80}", (-90f64..90.0, -180f64..180.0), 0.01f64..1e7, 0u32..120_000, any::<bool>()),
            1..300,
        ),
        known in 1usize..6,
        locations in 1usize..4,
        window_events in 2usize..12,
        applied in 1usize..20,
    ) {
        let caps = Caps { known, locations, window_events, applied };
        let t = Thresholds { caps, velocity_count: 1, failures_per_user: 1, failures_per_ip: 1, ..Thresholds::default() };
        let bound = max_encoded_bytes(&caps);
        let keys = [Key::User("u-0".into()), Key::Ip("10.0.0.0".into()), Key::Card("card-0".into())];
        let mut states: Vec<KeyState> = keys.iter().map(KeyState::new).collect();
        let mut time_ms = 1_732_496_400_000i64;
        let mut findings = Vec::new();
        for (i, d) in draws.iter().enumerate() {
            time_ms += i64::from(d.6);
            let e = event(i, d, time_ms);
            for (key, state) in keys.iter().zip(states.iter_mut()) {
                if eddy::fraud::detect::keys_of(&e).iter().any(|k| std::mem::discriminant(k) == std::mem::discriminant(key)) {
                    apply(state, &e, &t, &mut findings);
                }
            }
            for state in &states {
                let bytes = encode(state);
                prop_assert!(bytes.len() <= bound, "{} > {bound}", bytes.len());
                prop_assert_eq!(&decode(&bytes).unwrap(), state);
            }
        }
    }
}

#[test]
fn the_template_declares_the_table_the_code_writes() {
    use eddy::fraud::dynamo::{EXPIRES_AT, PK};
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let start = template.find("\n  FraudStateTable:\n").expect("template.yaml declares FraudStateTable");
    let table = &template[start..start + template[start + 1..].find("\n\n").unwrap()];
    for line in [
        format!("- AttributeName: {PK}\n          AttributeType: S"),
        format!("- AttributeName: {PK}\n          KeyType: HASH"),
        format!("TimeToLiveSpecification:\n        AttributeName: {EXPIRES_AT}\n        Enabled: true"),
    ] {
        assert!(table.contains(&line), "FraudStateTable lacks {line:?}:\n{table}");
    }
    let detect = &template[template.find("\n  DetectFunction:\n").unwrap()..];
    assert!(detect.contains("EDDY_FRAUD_TABLE: !Ref FraudStateTable"));
}
