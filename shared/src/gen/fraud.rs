//! fraud: logins and card transactions.
//!
//! Each of 200,000 users has a home city, a device, an address and a card
//! derived from the seed. Logins carry `user`, `ip`, `ua`, `device_id`,
//! `outcome` and the `location` the login service resolved; transactions carry
//! `card_id`, `amount`, `currency`, `merchant`, `mcc`, `merchant_country` and
//! `channel`. Injected (counted in the truth's `incidents`; no shipped rule
//! pack covers fraud):
//!
//! - `account-takeover`: failed logins from a new device and city, a success,
//!   an email change, then high-value online purchases;
//! - `impossible-travel`: two successful logins of one user from cities more
//!   than 3,000 km apart within 30-300 seconds;
//! - `card-velocity`: 8-20 transactions on one card a few seconds apart.

use super::incidents::Incidents;
use super::pools::{distance_km, mix, public_v4, skewed, weighted, BROWSER_UAS, CITIES, IOS_APP_UAS, SCANNER_UAS};
use super::writer::{push_hex, push_padded};
use super::{Ctx, GeneratedEvent, IncidentMark, Label};

/// Sources.
pub(crate) const SOURCES: [&str; 4] = ["web-login", "mobile-login", "card-processor", "account-service"];
/// Incident kinds.
pub(crate) const INCIDENTS: [&str; 3] = ["account-takeover", "impossible-travel", "card-velocity"];

const USERS: usize = 200_000;
const MERCHANTS: [(&str, &str); 10] = [
    ("Corner Grocery", "5411"),
    ("City Fuel", "5541"),
    ("Bistro 21", "5812"),
    ("Metro Transit", "4111"),
    ("Online Electronics", "5732"),
    ("Fashion Outlet", "5651"),
    ("Pharmacy Plus", "5912"),
    ("Stream Media", "4899"),
    ("Gift Cards Direct", "5947"),
    ("Travel Booking", "4722"),
];

#[derive(Debug, Clone)]
enum Incident {
    Takeover { user: u64, city: usize, ip: String, device: u64, fails: u32 },
    Travel { user: u64, far: usize },
    Velocity { user: u64 },
}

impl Incident {
    fn kind(&self) -> u8 {
        match self {
            Incident::Takeover { .. } => 0,
            Incident::Travel { .. } => 1,
            Incident::Velocity { .. } => 2,
        }
    }
}

/// What stays the same about a user all run.
struct User {
    id: String,
    home: usize,
    ip: String,
    device: u64,
    card: u64,
    mobile: bool,
    h: u64,
}

fn user(seed: u64, n: u64) -> User {
    let h = mix(seed ^ 0xf4a0d, n);
    let mut id = String::with_capacity(10);
    push_padded(&mut id, "u-", n, 7);
    User {
        id,
        home: (h % CITIES.len() as u64) as usize,
        ip: public_v4(h),
        device: mix(h, 1),
        card: mix(h, 2),
        mobile: (h >> 12) % 3 == 0,
        h,
    }
}

/// One login.
struct Login<'a> {
    user: &'a User,
    ip: &'a str,
    ua: &'a str,
    device: u64,
    city: usize,
    success: bool,
}

/// One card transaction.
struct Payment<'a> {
    user: &'a User,
    cents: i64,
    merchant: usize,
    country: &'a str,
    online: bool,
    ip: &'a str,
}

pub(crate) struct Fraud {
    incidents: Incidents<Incident>,
}

impl Fraud {
    pub fn new() -> Self {
        Self { incidents: Incidents::new(8, 2_000) }
    }

    pub fn in_progress(&self) -> Vec<u64> {
        self.incidents.serials()
    }

    pub fn held(&self) -> usize {
        self.incidents.len()
    }

    pub fn emit(&mut self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent) -> Label {
        let now = ctx.time_ms;
        if let Some(i) = self.incidents.due(now) {
            if let Some(active) = self.incidents.get(i) {
                let (first, serial, step, steps) = (active.step == 0, active.serial, active.step, active.steps);
                let incident = active.state.clone();
                let (label, gap) = incident_event(ctx, ev, &incident, step, steps);
                self.incidents.advance(i, now, gap);
                return Label { incident: Some(IncidentMark { kind: incident.kind(), serial, first }), ..label };
            }
        }
        if self.incidents.should_start(ctx.rng) {
            let rng = &mut *ctx.rng;
            let user_n = rng.u64(0..USERS as u64);
            let u = user(ctx.seed, user_n);
            let (incident, steps) = match weighted(rng, &[(0u8, 35), (1, 35), (2, 30)]) {
                0 => {
                    let city = far_city(rng, u.home);
                    let fails = rng.u32(3..13);
                    let buys = rng.u32(1..4);
                    let takeover = Incident::Takeover {
                        user: user_n,
                        city,
                        ip: public_v4(rng.u64(..)),
                        device: rng.u64(..),
                        fails,
                    };
                    (takeover, fails + 2 + buys)
                }
                1 => (Incident::Travel { user: user_n, far: far_city(rng, u.home) }, 2),
                _ => (Incident::Velocity { user: user_n }, rng.u32(8..21)),
            };
            self.incidents.start(now, steps, incident);
        }
        let rng = &mut *ctx.rng;
        let u = user(ctx.seed, skewed(rng, USERS) as u64);
        match rng.u32(0..100) {
            0..=54 => {
                let success = rng.u32(0..100) >= 3;
                let ua = agent(&u);
                login(ctx, ev, &Login { user: &u, ip: &u.ip, ua, device: u.device, city: u.home, success })
            }
            55..=98 => {
                let online = rng.u32(0..100) < 40;
                let country = if rng.u32(0..100) < 5 { CITIES[rng.usize(0..CITIES.len())].0 } else { CITIES[u.home].0 };
                let cents = 100 + (rng.f64().powi(3) * 30_000.0) as i64;
                let merchant = rng.usize(0..MERCHANTS.len());
                payment(ctx, ev, &Payment { user: &u, cents, merchant, country, online, ip: &u.ip })
            }
            _ => {
                let change = ["password", "phone", "address"][rng.usize(0..3)];
                account_change(ctx, ev, &u, change, &u.ip)
            }
        }
    }
}

/// A city more than 3,000 km from `home`.
fn far_city(rng: &mut fastrand::Rng, home: usize) -> usize {
    let far: Vec<usize> = (0..CITIES.len()).filter(|&c| distance_km(home, c) > 3_000.0).collect();
    far.get(rng.usize(0..far.len().max(1))).copied().unwrap_or((home + CITIES.len() / 2) % CITIES.len())
}

fn agent(u: &User) -> &'static str {
    if u.mobile {
        IOS_APP_UAS[(u.h >> 20) as usize % IOS_APP_UAS.len()]
    } else {
        BROWSER_UAS[(u.h >> 20) as usize % BROWSER_UAS.len()]
    }
}

fn incident_event(
    ctx: &mut Ctx<'_>,
    ev: &mut GeneratedEvent,
    incident: &Incident,
    step: u32,
    steps: u32,
) -> (Label, i64) {
    match incident {
        Incident::Takeover { user: n, city, ip, device, fails } => {
            let u = user(ctx.seed, *n);
            let ua = SCANNER_UAS[3];
            if step < *fails {
                let gap = ctx.rng.i64(1_000..4_000);
                let l = Login { user: &u, ip, ua, device: *device, city: *city, success: false };
                (login(ctx, ev, &l), gap)
            } else if step == *fails {
                let gap = ctx.rng.i64(5_000..30_000);
                let l = Login { user: &u, ip, ua, device: *device, city: *city, success: true };
                (login(ctx, ev, &l), gap)
            } else if step == fails + 1 {
                (account_change(ctx, ev, &u, "email", ip), ctx.rng.i64(5_000..30_000))
            } else {
                let cents = ctx.rng.i64(50_000..300_000);
                let merchant = [4usize, 8, 9][ctx.rng.usize(0..3)];
                let country = CITIES[*city].0;
                let gap = ctx.rng.i64(5_000..30_000);
                (payment(ctx, ev, &Payment { user: &u, cents, merchant, country, online: true, ip }), gap)
            }
        }
        Incident::Travel { user: n, far } => {
            let u = user(ctx.seed, *n);
            let ua = agent(&u);
            if step == 0 {
                let gap = ctx.rng.i64(30_000..300_000);
                (login(ctx, ev, &Login { user: &u, ip: &u.ip, ua, device: u.device, city: u.home, success: true }), gap)
            } else {
                let ip = public_v4(mix(u.h, 77));
                (login(ctx, ev, &Login { user: &u, ip: &ip, ua, device: u.device, city: *far, success: true }), 0)
            }
        }
        Incident::Velocity { user: n } => {
            let u = user(ctx.seed, *n);
            let half = steps / 2;
            let cents = if step < half { ctx.rng.i64(100..500) } else { ctx.rng.i64(20_000..90_000) };
            let merchant = ctx.rng.usize(0..MERCHANTS.len());
            let country = CITIES[ctx.rng.usize(0..CITIES.len())].0;
            let gap = ctx.rng.i64(1_000..6_000);
            (payment(ctx, ev, &Payment { user: &u, cents, merchant, country, online: true, ip: &u.ip }), gap)
        }
    }
}

fn login(ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent, l: &Login<'_>) -> Label {
    let (country, city, lat, lon, _) = CITIES[l.city];
    let mfa = ctx.rng.u32(0..100) < 60;
    let source = if l.user.mobile { 1 } else { 0 };
    let mut device = String::with_capacity(20);
    device.push_str("dev-");
    push_hex(&mut device, l.device, 12);
    let mut obj = ctx.head(&mut ev.data, "login", SOURCES[source]);
    obj.safe("user", &l.user.id)
        .safe("ip", l.ip)
        .safe("ua", l.ua)
        .safe("device_id", &device)
        .safe("outcome", if l.success { "success" } else { "failure" })
        .bool("mfa", mfa && l.success);
    obj.object("location", |o| {
        o.safe("country", country).str("city", city).fixed("lat", (lat * 10_000.0).round() as i64, 4).fixed(
            "lon",
            (lon * 10_000.0).round() as i64,
            4,
        );
    });
    obj.close();
    ev.partition_key.push_str(&l.user.id);
    Label { source: source as u16, rules: 0, incident: None }
}

fn payment(ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent, p: &Payment<'_>) -> Label {
    let (merchant, mcc) = MERCHANTS[p.merchant];
    let currency = CITIES[p.user.home].4;
    let mut card = String::with_capacity(17);
    card.push_str("card-");
    push_hex(&mut card, p.user.card, 12);
    let last4 = p.user.card % 10_000;
    let mut last = String::with_capacity(4);
    push_padded(&mut last, "", last4, 4);
    let mut obj = ctx.head(&mut ev.data, "transaction", SOURCES[2]);
    obj.safe("user", &p.user.id)
        .safe("card_id", &card)
        .safe("card_last4", &last)
        .fixed("amount", p.cents, 2)
        .safe("currency", currency)
        .str("merchant", merchant)
        .safe("mcc", mcc)
        .safe("merchant_country", p.country)
        .safe("channel", if p.online { "ecommerce" } else { "pos" });
    if p.online {
        obj.safe("ip", p.ip);
    }
    obj.close();
    ev.partition_key.push_str(&p.user.id);
    Label { source: 2, rules: 0, incident: None }
}

fn account_change(ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent, u: &User, change: &str, ip: &str) -> Label {
    let mut obj = ctx.head(&mut ev.data, "account_change", SOURCES[3]);
    obj.safe("user", &u.id).safe("change", change).safe("ip", ip);
    obj.close();
    ev.partition_key.push_str(&u.id);
    Label { source: 3, rules: 0, incident: None }
}
