//! security: access events (and some metric events) from 100 microservices.
//!
//! Background: users on public addresses and service calls from the company's
//! networks; mostly 2xx/3xx/404, with rare organic 401/403 and 5xx; admin
//! pages reached only from the company's networks; a few public addresses
//! right next to the block list (192.0.2.65, 203.0.112.x) and rare single
//! requests from listed ones. Injected incidents:
//! credential-stuffing bursts (401s from one address, sometimes a listed one),
//! outages (one service answering 5xx), admin pages from unknown networks, and
//! scans from block-listed networks.
//!
//! The truth of `rules/security.yaml`: `auth-failure` = an access event with
//! status 401 or 403; `server-error` = status 500-599; `admin-from-unknown-network`
//! = a path starting with `/admin` from an address that is not internal;
//! `traffic-from-listed-network` = a listed address. Each is decided from what
//! was generated (the status drawn, the network class of the address drawn).

use super::incidents::Incidents;
use super::pools::{
    self, internal_ip, listed_ip, mix, near_listed_ip, public_v4, public_v6, skewed, weighted, IpClass, Service,
    BROWSER_UAS, SCANNER_UAS, SERVICE_UAS,
};
use super::writer::{push_padded, push_u64};
use super::{Ctx, GeneratedEvent, IncidentMark, Label};

/// The rules of `rules/security.yaml`, in file order (bit i of a label).
pub(crate) const RULES: [&str; 4] =
    ["auth-failure", "server-error", "admin-from-unknown-network", "traffic-from-listed-network"];
/// Incident kinds.
pub(crate) const INCIDENTS: [&str; 4] =
    ["auth-failure-burst", "server-error-burst", "admin-from-unknown-network", "listed-network-scan"];

const USERS: u64 = 50_000;
const ADMIN_PATHS: [&str; 6] =
    ["/admin", "/admin/users", "/admin/config", "/admin/feature-flags", "/admin/audit-log", "/administrator/login"];
const SCAN_PATHS: [&str; 8] = [
    "/wp-login.php",
    "/.env",
    "/.git/config",
    "/admin",
    "/phpmyadmin/index.php",
    "/api/v1/users?id=1' OR '1'='1",
    "/cgi-bin/../../../../etc/passwd",
    "/actuator/health",
];
const METRICS: [(&str, &str); 5] = [
    ("cpu_utilization", "Percent"),
    ("memory_used_mb", "Megabytes"),
    ("request_count", "Count"),
    ("error_rate", "Percent"),
    ("p99_latency_ms", "Milliseconds"),
];

#[derive(Debug, Clone)]
enum Incident {
    AuthBurst { ip: String, class: IpClass, ua: &'static str, service: usize },
    Outage { service: usize },
    Admin { ip: String, user: String },
    Scan { ip: String, ua: &'static str, service: usize },
}

impl Incident {
    fn kind(&self) -> u8 {
        match self {
            Incident::AuthBurst { .. } => 0,
            Incident::Outage { .. } => 1,
            Incident::Admin { .. } => 2,
            Incident::Scan { .. } => 3,
        }
    }
}

/// One access event's content.
struct Access<'a> {
    service: usize,
    user: &'a str,
    ip: &'a str,
    class: IpClass,
    ua: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    latency_ms: u64,
}

impl Access<'_> {
    /// The rules this event must match (bits in [`RULES`] order).
    fn rules(&self) -> u8 {
        let mut bits = 0;
        if matches!(self.status, 401 | 403) {
            bits |= 1;
        }
        if (500..=599).contains(&self.status) {
            bits |= 2;
        }
        if self.path.starts_with("/admin") && self.class != IpClass::Internal {
            bits |= 4;
        }
        if self.class == IpClass::Listed {
            bits |= 8;
        }
        bits
    }
}

pub(crate) struct Security {
    services: Vec<Service>,
    incidents: Incidents<Incident>,
    auth_service: usize,
    gateways: Vec<usize>,
}

impl Security {
    pub fn new(_seed: u64) -> Self {
        let services = pools::services();
        let auth_service = services.iter().position(|s| s.name == "svc-auth-api").unwrap_or(0);
        let gateways = services.iter().enumerate().filter(|(_, s)| s.role == 1).map(|(i, _)| i).collect();
        Self { services, incidents: Incidents::new(4, 1_500), auth_service, gateways }
    }

    pub fn sources(&self) -> Vec<String> {
        self.services.iter().map(|s| s.name.clone()).collect()
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
                let (first, serial) = (active.step == 0, active.serial);
                let incident = active.state.clone();
                let (label, gap) = self.incident_event(ctx, ev, &incident);
                self.incidents.advance(i, now, gap);
                return Label { incident: Some(IncidentMark { kind: incident.kind(), serial, first }), ..label };
            }
        }
        if self.incidents.should_start(ctx.rng) {
            self.start_incident(ctx);
        }
        if ctx.rng.u32(0..100) < 8 {
            return self.metric_event(ctx, ev);
        }
        self.background(ctx, ev)
    }

    fn start_incident(&mut self, ctx: &mut Ctx<'_>) {
        let rng = &mut *ctx.rng;
        let (incident, steps) = match weighted(rng, &[(0u8, 35), (1, 25), (2, 20), (3, 20)]) {
            0 => {
                let listed = rng.u32(0..100) < 15;
                let (ip, class) =
                    if listed { (listed_ip(rng), IpClass::Listed) } else { (public_v4(rng.u64(..)), IpClass::Public) };
                let ua = SCANNER_UAS[rng.usize(2..SCANNER_UAS.len())];
                let service = if rng.bool() { self.auth_service } else { self.auth_service + 5 };
                (Incident::AuthBurst { ip, class, ua, service }, rng.u32(20..150))
            }
            1 => (Incident::Outage { service: skewed(rng, self.services.len()) }, rng.u32(30..300)),
            2 => {
                let ip = match rng.u32(0..10) {
                    0..=5 => public_v4(rng.u64(..)),
                    6..=7 => public_v6(rng.u64(..)),
                    _ => near_listed_ip(rng),
                };
                let user = ["admin", "root", "ops-deploy", "j.smith"][rng.usize(0..4)].to_string();
                (Incident::Admin { ip, user }, rng.u32(1..7))
            }
            _ => {
                let service = self.gateways[rng.usize(0..self.gateways.len())];
                let ua = SCANNER_UAS[rng.usize(0..SCANNER_UAS.len())];
                (Incident::Scan { ip: listed_ip(rng), ua, service }, rng.u32(10..80))
            }
        };
        self.incidents.start(ctx.time_ms, steps, incident);
    }

    /// Writes one event of `incident`; returns its label and the gap to its next event.
    fn incident_event(&self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent, incident: &Incident) -> (Label, i64) {
        match incident {
            Incident::AuthBurst { ip, class, ua, service } => {
                let rng = &mut *ctx.rng;
                let user = &mut ev.partition_key;
                match rng.u32(0..20) {
                    0 => user.push_str("admin"),
                    1 => user.push_str("test"),
                    _ => push_padded(user, "u-", rng.u64(0..USERS), 6),
                }
                let status = weighted(rng, &[(401u16, 85), (403, 8), (200, 4), (429, 3)]);
                let path = if *service == self.auth_service { "/login" } else { "/api/v1/auth/token" };
                let access = Access {
                    service: *service,
                    user,
                    ip,
                    class: *class,
                    ua,
                    method: "POST",
                    path,
                    status,
                    latency_ms: rng.u64(40..400),
                };
                let gap = rng.i64(30..400);
                (self.write_access(ctx, &mut ev.data, &access), gap)
            }
            Incident::Outage { service } => {
                let status = weighted(ctx.rng, &[(503u16, 50), (502, 15), (500, 15), (504, 10), (200, 10)]);
                let label = self.background_like(ctx, ev, *service, status);
                (label, ctx.rng.i64(10..120))
            }
            Incident::Admin { ip, user } => {
                let rng = &mut *ctx.rng;
                let status = weighted(rng, &[(200u16, 60), (403, 25), (401, 5), (500, 10)]);
                let path = ADMIN_PATHS[rng.usize(0..ADMIN_PATHS.len())];
                let service = self.services.iter().position(|s| s.role == 3).unwrap_or(0) + 5 * rng.usize(0..20);
                let ua = BROWSER_UAS[rng.usize(0..6)];
                let method = if rng.bool() { "GET" } else { "POST" };
                let access = Access {
                    service: service.min(self.services.len() - 1),
                    user,
                    ip,
                    class: IpClass::Public,
                    ua,
                    method,
                    path,
                    status,
                    latency_ms: rng.u64(20..300),
                };
                let gap = rng.i64(500..8_000);
                ev.partition_key.push_str(user);
                (self.write_access(ctx, &mut ev.data, &access), gap)
            }
            Incident::Scan { ip, ua, service } => {
                let rng = &mut *ctx.rng;
                let status = weighted(rng, &[(404u16, 70), (403, 15), (401, 5), (200, 7), (500, 3)]);
                let path = SCAN_PATHS[rng.usize(0..SCAN_PATHS.len())];
                let access = Access {
                    service: *service,
                    user: "-",
                    ip,
                    class: IpClass::Listed,
                    ua,
                    method: "GET",
                    path,
                    status,
                    latency_ms: rng.u64(1..50),
                };
                let gap = rng.i64(20..500);
                ev.partition_key.push_str(ip);
                (self.write_access(ctx, &mut ev.data, &access), gap)
            }
        }
    }

    fn background(&self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent) -> Label {
        let service = skewed(ctx.rng, self.services.len());
        let status = weighted(
            ctx.rng,
            &[
                (200u16, 8_200),
                (201, 400),
                (204, 300),
                (301, 100),
                (304, 300),
                (400, 100),
                (404, 400),
                (409, 30),
                (422, 30),
                (429, 40),
                (401, 40),
                (403, 20),
                (500, 10),
                (502, 10),
                (503, 15),
                (504, 5),
            ],
        );
        self.background_like(ctx, ev, service, status)
    }

    /// An ordinary request to `service` answered with `status`.
    fn background_like(&self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent, service: usize, status: u16) -> Label {
        let rng = &mut *ctx.rng;
        let user_n = skewed(rng, USERS as usize) as u64;
        let user = &mut ev.partition_key;
        push_padded(user, "u-", user_n, 6);
        let h = mix(ctx.seed, user_n);
        let internal = rng.u32(0..100) < 20;
        let (ip, class, ua) = if internal {
            (internal_ip(rng), IpClass::Internal, SERVICE_UAS[rng.usize(0..SERVICE_UAS.len())])
        } else if rng.u32(0..1000) == 0 {
            (near_listed_ip(rng), IpClass::Public, BROWSER_UAS[(h >> 7) as usize % BROWSER_UAS.len()])
        } else if rng.u32(0..3000) == 0 {
            (listed_ip(rng), IpClass::Listed, BROWSER_UAS[(h >> 7) as usize % BROWSER_UAS.len()])
        } else if h % 10 == 0 {
            (public_v6(h), IpClass::Public, BROWSER_UAS[(h >> 7) as usize % BROWSER_UAS.len()])
        } else {
            (public_v4(h), IpClass::Public, BROWSER_UAS[(h >> 7) as usize % BROWSER_UAS.len()])
        };
        let domain = pools::DOMAINS[self.services[service].domain].0;
        let mut path = String::with_capacity(40);
        if internal && rng.u32(0..100) < 3 {
            path.push_str(ADMIN_PATHS[rng.usize(0..ADMIN_PATHS.len())]);
        } else {
            match rng.u32(0..20) {
                0 => path.push_str("/health"),
                1 => {
                    path.push_str("/api/v1/admin-reports/");
                    push_u64(&mut path, rng.u64(1..500));
                }
                2..=8 => {
                    path.push_str("/api/v1/");
                    path.push_str(domain);
                }
                _ => {
                    path.push_str("/api/v1/");
                    path.push_str(domain);
                    path.push('/');
                    push_u64(&mut path, rng.u64(1..100_000));
                }
            }
        }
        let method = weighted(rng, &[("GET", 70), ("POST", 20), ("PUT", 6), ("DELETE", 4)]);
        let latency_ms = 2 + (rng.f64().powi(3) * 1_500.0) as u64;
        let access = Access { service, user, ip: &ip, class, ua, method, path: &path, status, latency_ms };
        self.write_access(ctx, &mut ev.data, &access)
    }

    fn write_access(&self, ctx: &mut Ctx<'_>, data: &mut Vec<u8>, a: &Access<'_>) -> Label {
        let name = &self.services[a.service].name;
        let bytes = if a.status == 204 || a.status == 304 { 0 } else { ctx.rng.u64(120..40_000) };
        let request = ctx.rng.u64(..);
        let mut obj = ctx.head(data, "access", name);
        obj.safe("user", a.user).safe("ip", a.ip).safe("ua", a.ua);
        obj.object("http", |h| {
            h.safe("method", a.method)
                .str("path", a.path)
                .u64("status", u64::from(a.status))
                .u64("latency_ms", a.latency_ms)
                .u64("bytes", bytes);
        });
        obj.hex("request_id", &[request], 16);
        obj.close();
        Label { source: a.service as u16, rules: a.rules(), incident: None }
    }

    fn metric_event(&self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent) -> Label {
        let service = skewed(ctx.rng, self.services.len());
        let (metric, unit) = METRICS[ctx.rng.usize(0..METRICS.len())];
        let value = ctx.rng.i64(0..10_000);
        let mut host = String::with_capacity(20);
        host.push_str("ip-10-");
        push_u64(&mut host, ctx.rng.u64(0..256));
        host.push('-');
        push_u64(&mut host, ctx.rng.u64(0..256));
        host.push('-');
        push_u64(&mut host, ctx.rng.u64(1..255));
        let name = &self.services[service].name;
        let mut obj = ctx.head(&mut ev.data, "metric", name);
        obj.safe("metric", metric).fixed("value", value, 2).safe("unit", unit).safe("host", &host);
        obj.close();
        ev.partition_key.push_str(name);
        Label { source: service as u16, rules: 0, incident: None }
    }
}
