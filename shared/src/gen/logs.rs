//! logs: application logs of the 100 services (and two services missing from
//! the catalog), and VPC flow logs.
//!
//! An application log event is a JSON object: `level`, `logger`, `message`,
//! and the call it reports (`caller` = the logging service = `source`,
//! `callee`, `latency_ms`, `status`, `trace_id`). Services log in one of three
//! styles: Java (`WARN`, `FATAL`), Python (`WARNING`, `CRITICAL`) and Go
//! (lowercase `warn`, `error`, `fatal`). Its CloudWatch origin is the group
//! `/ecs/<service>`.
//!
//! A VPC flow log record (version 2 default format) travels in CloudWatch as
//! its text line (group `vpc-flow-logs`), which the decoder turns into an
//! object of the 14 named fields; `data` is that same object with `id`,
//! `kind` (`log`), `source` (`vpc-flow-logs`, as enrich names a log event
//! with no source after its group) and `time`, so the plain and CloudWatch
//! forms enrich to the same `id`, `source` and `time`.
//!
//! Injected: error bursts (one service logging errors), crashes (FATAL /
//! CRITICAL lines) and port scans (REJECTed flows from one address).
//!
//! The truth of `rules/logs.yaml`: `tier1-error` = level `ERROR`, `FATAL`,
//! `error` or `fatal` from a service the catalog ([`super::catalog_json`])
//! puts in tier 1; `fatal-anywhere` = `FATAL` or `fatal`. Python's `CRITICAL`
//! matches neither rule (the pack does not list it), so it is not expected.

use std::sync::Arc;

use super::incidents::Incidents;
use super::pools::{self, public_v4, skewed, weighted, Service};
use super::writer::{push_hex, push_u64};
use super::{Ctx, GeneratedEvent, IncidentMark, Label, LogOrigin};

/// The rules of `rules/logs.yaml`, in file order.
pub(crate) const RULES: [&str; 2] = ["tier1-error", "fatal-anywhere"];
/// Incident kinds.
pub(crate) const INCIDENTS: [&str; 3] = ["error-burst", "crash", "port-scan"];

/// The log group (and `source`) of flow logs.
pub const VPC_SOURCE: &str = "vpc-flow-logs";
const UNCATALOGUED: [&str; 2] = ["legacy-batch", "cron-reports"];
const ACCOUNT: &str = "123456789012";
const ENIS: u64 = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Java,
    Python,
    Go,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    fn text(self, style: Style) -> &'static str {
        match (self, style) {
            (Level::Debug, Style::Go) => "debug",
            (Level::Debug, _) => "DEBUG",
            (Level::Info, Style::Go) => "info",
            (Level::Info, _) => "INFO",
            (Level::Warn, Style::Java) => "WARN",
            (Level::Warn, Style::Python) => "WARNING",
            (Level::Warn, Style::Go) => "warn",
            (Level::Error, Style::Go) => "error",
            (Level::Error, _) => "ERROR",
            (Level::Fatal, Style::Java) => "FATAL",
            (Level::Fatal, Style::Python) => "CRITICAL",
            (Level::Fatal, Style::Go) => "fatal",
        }
    }
}

#[derive(Debug, Clone)]
enum Incident {
    ErrorBurst { source: usize, callee: usize },
    Crash { source: usize },
    PortScan { ip: String, target: String, eni: u64 },
}

impl Incident {
    fn kind(&self) -> u8 {
        match self {
            Incident::ErrorBurst { .. } => 0,
            Incident::Crash { .. } => 1,
            Incident::PortScan { .. } => 2,
        }
    }
}

/// One log source: its name, tier (none when not in the catalog), style and CloudWatch origin.
struct Source {
    name: String,
    domain: &'static str,
    tier: Option<u8>,
    style: Style,
    group: Arc<str>,
    stream: Arc<str>,
}

pub(crate) struct Logs {
    sources: Vec<Source>,
    vpc_group: Arc<str>,
    enis: Vec<Arc<str>>,
    incidents: Incidents<Incident>,
}

impl Logs {
    pub fn new(seed: u64) -> Self {
        let services: Vec<Service> = pools::services();
        let mut sources: Vec<Source> = services
            .iter()
            .map(|s| {
                let style = match s.domain % 3 {
                    0 => Style::Java,
                    1 => Style::Python,
                    _ => Style::Go,
                };
                source(&s.name, pools::DOMAINS[s.domain].0, Some(s.tier), style, seed)
            })
            .collect();
        for name in UNCATALOGUED {
            sources.push(source(name, "batch", None, Style::Python, seed));
        }
        let enis = (0..ENIS)
            .map(|i| {
                let mut s = String::from("eni-");
                push_hex(&mut s, pools::mix(seed, 1_000 + i), 17);
                Arc::from(s)
            })
            .collect();
        Self { sources, vpc_group: Arc::from(VPC_SOURCE), enis, incidents: Incidents::new(4, 1_200) }
    }

    pub fn sources(&self) -> Vec<String> {
        let mut names: Vec<String> = self.sources.iter().map(|s| s.name.clone()).collect();
        names.push(VPC_SOURCE.to_string());
        names
    }

    fn vpc_index(&self) -> u16 {
        self.sources.len() as u16
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
                let (label, gap) = match &incident {
                    Incident::ErrorBurst { source, callee } => {
                        let status = weighted(ctx.rng, &[(503u16, 50), (500, 30), (504, 20)]);
                        let level = if ctx.rng.u32(0..10) == 0 { Level::Warn } else { Level::Error };
                        (self.app_log(ctx, ev, *source, *callee, level, status), ctx.rng.i64(20..150))
                    }
                    Incident::Crash { source } => {
                        let callee = ctx.rng.usize(0..100);
                        (self.app_log(ctx, ev, *source, callee, Level::Fatal, 500), ctx.rng.i64(5..50))
                    }
                    Incident::PortScan { ip, target, eni } => {
                        let flow = Flow {
                            src: ip.clone(),
                            dst: target.clone(),
                            src_port: ctx.rng.u64(32_768..61_000),
                            dst_port: ctx.rng.u64(1..1024),
                            protocol: 6,
                            packets: 1,
                            bytes: 44,
                            accept: false,
                        };
                        (self.vpc(ctx, ev, *eni, Some(&flow)), ctx.rng.i64(5..50))
                    }
                };
                self.incidents.advance(i, now, gap);
                return Label { incident: Some(IncidentMark { kind: incident.kind(), serial, first }), ..label };
            }
        }
        if self.incidents.should_start(ctx.rng) {
            let rng = &mut *ctx.rng;
            let (incident, steps) = match weighted(rng, &[(0u8, 50), (1, 20), (2, 30)]) {
                0 => {
                    // half of the bursts hit a tier-1 service
                    let source = if rng.bool() {
                        let tier1: Vec<usize> = (0..100).filter(|&i| self.sources[i].tier == Some(1)).collect();
                        tier1[rng.usize(0..tier1.len())]
                    } else {
                        rng.usize(0..self.sources.len())
                    };
                    (Incident::ErrorBurst { source, callee: rng.usize(0..100) }, rng.u32(20..200))
                }
                1 => (Incident::Crash { source: rng.usize(0..self.sources.len()) }, rng.u32(1..4)),
                _ => {
                    let ip = public_v4(rng.u64(..));
                    let target = internal_ip_v4(rng);
                    (Incident::PortScan { ip, target, eni: rng.u64(0..ENIS) }, rng.u32(50..300))
                }
            };
            self.incidents.start(now, steps, incident);
        }
        if ctx.rng.u32(0..10) < 3 {
            let eni = ctx.rng.u64(0..ENIS);
            let flow = Self::random_flow(ctx.rng);
            return self.vpc(ctx, ev, eni, flow.as_ref());
        }
        let rng = &mut *ctx.rng;
        let source = if rng.u32(0..100) < 2 { 100 + rng.usize(0..2) } else { skewed(rng, 100) };
        let mut callee = rng.usize(0..100);
        if callee == source {
            callee = (callee + 1) % 100;
        }
        let level = weighted(
            rng,
            &[(Level::Debug, 800), (Level::Info, 7_800), (Level::Warn, 900), (Level::Error, 450), (Level::Fatal, 5)],
        );
        let status = match level {
            Level::Error | Level::Fatal => weighted(rng, &[(500u16, 40), (502, 20), (503, 30), (504, 10)]),
            Level::Warn => weighted(rng, &[(429u16, 40), (404, 40), (409, 20)]),
            _ => weighted(rng, &[(200u16, 80), (201, 10), (204, 10)]),
        };
        self.app_log(ctx, ev, source, callee, level, status)
    }

    fn app_log(
        &self,
        ctx: &mut Ctx<'_>,
        ev: &mut GeneratedEvent,
        source: usize,
        callee: usize,
        level: Level,
        status: u16,
    ) -> Label {
        let s = &self.sources[source];
        let callee_name = &self.sources[callee.min(99)].name;
        let rng = &mut *ctx.rng;
        let latency = if level == Level::Error && status == 504 {
            rng.u64(5_000..30_000)
        } else {
            1 + (rng.f64().powi(3) * 800.0) as u64
        };
        let mut message = String::with_capacity(80);
        match level {
            Level::Error | Level::Fatal => {
                match rng.u32(0..3) {
                    0 => {
                        message.push_str("upstream ");
                        message.push_str(callee_name);
                        message.push_str(" failed after ");
                        push_u64(&mut message, latency);
                        message.push_str(" ms: status ");
                        push_u64(&mut message, u64::from(status));
                    }
                    1 => {
                        message.push_str("connection refused: ");
                        message.push_str(callee_name);
                        message.push_str(":8080");
                    }
                    _ => message.push_str("unhandled exception in request handler: \"index out of range\""),
                }
                if level == Level::Fatal {
                    message.push_str("; shutting down");
                }
            }
            _ => {
                message.push_str(if rng.bool() { "GET /api/v1/" } else { "POST /api/v1/" });
                message.push_str(s.domain);
                message.push_str(" -> ");
                push_u64(&mut message, u64::from(status));
                message.push_str(" (");
                push_u64(&mut message, latency);
                message.push_str(" ms)");
            }
        }
        let trace = [rng.u64(..), rng.u64(..)];
        let span = rng.u64(..);
        let level_text = level.text(s.style);
        let logger = match s.style {
            Style::Java => "com.example.RequestHandler",
            Style::Python => "app.handlers",
            Style::Go => "server/http",
        };
        let mut obj = ctx.head(&mut ev.data, "log", &s.name);
        obj.safe("level", level_text)
            .safe("logger", logger)
            .str("message", &message)
            .safe("caller", &s.name)
            .safe("callee", callee_name)
            .u64("latency_ms", latency)
            .u64("status", u64::from(status))
            .hex("trace_id", &trace, 16)
            .hex("span_id", &[span], 16);
        obj.close();
        ev.partition_key.push_str(&s.name);
        ev.log = Some(LogOrigin { group: s.group.clone(), stream: s.stream.clone(), message: None });
        let mut rules = 0;
        let error_text = matches!(level_text, "ERROR" | "FATAL" | "error" | "fatal");
        if error_text && s.tier == Some(1) {
            rules |= 1;
        }
        if matches!(level_text, "FATAL" | "fatal") {
            rules |= 2;
        }
        Label { source: source as u16, rules, incident: None }
    }

    /// An ordinary flow (or, one time in 200, no flow: a NODATA record).
    fn random_flow(rng: &mut fastrand::Rng) -> Option<Flow> {
        if rng.u32(0..200) == 0 {
            return None;
        }
        let inbound = rng.u32(0..10) < 3;
        let (src, dst) = if inbound {
            (public_v4(rng.u64(..)), internal_ip_v4(rng))
        } else {
            (internal_ip_v4(rng), if rng.bool() { internal_ip_v4(rng) } else { public_v4(rng.u64(..)) })
        };
        let protocol = weighted(rng, &[(6u64, 90), (17, 9), (1, 1)]);
        let server_port = [443u64, 80, 5432, 6379, 8080, 22, 53][rng.usize(0..7)];
        let (src_port, dst_port) = if protocol == 1 { (0, 0) } else { (rng.u64(32_768..61_000), server_port) };
        let packets = rng.u64(1..200);
        Some(Flow {
            src,
            dst,
            src_port,
            dst_port,
            protocol,
            packets,
            bytes: packets * rng.u64(40..1_500),
            accept: rng.u32(0..100) < 96,
        })
    }

    /// A flow log record of interface `eni`: `flow`, or NODATA.
    fn vpc(&self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent, eni: u64, flow: Option<&Flow>) -> Label {
        let end = ctx.time_ms.div_euclid(1000) as u64;
        let start = end.saturating_sub(ctx.rng.u64(0..60));
        let eni = &self.enis[(eni % ENIS) as usize];
        let mut line = Vec::with_capacity(128);
        write_line(&mut line, eni, flow, start, end);
        let mut obj = ctx.head(&mut ev.data, "log", VPC_SOURCE);
        obj.u64("version", 2).safe("account_id", ACCOUNT).safe("interface_id", eni);
        match flow {
            Some(f) => {
                obj.safe("srcaddr", &f.src)
                    .safe("dstaddr", &f.dst)
                    .u64("srcport", f.src_port)
                    .u64("dstport", f.dst_port)
                    .u64("protocol", f.protocol)
                    .u64("packets", f.packets)
                    .u64("bytes", f.bytes)
                    .u64("start", start)
                    .u64("end", end)
                    .safe("action", if f.accept { "ACCEPT" } else { "REJECT" })
                    .safe("log_status", "OK");
            }
            None => {
                for field in ["srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes"] {
                    obj.null(field);
                }
                obj.u64("start", start).u64("end", end).null("action").safe("log_status", "NODATA");
            }
        }
        obj.close();
        ev.partition_key.push_str(eni);
        let mut stream = String::with_capacity(eni.len() + 4);
        stream.push_str(eni);
        stream.push_str("-all");
        ev.log = Some(LogOrigin { group: self.vpc_group.clone(), stream: Arc::from(stream), message: Some(line) });
        Label { source: self.vpc_index(), rules: 0, incident: None }
    }
}

fn source(name: &str, domain: &'static str, tier: Option<u8>, style: Style, seed: u64) -> Source {
    let mut stream = String::with_capacity(name.len() + 24);
    stream.push_str("ecs/");
    stream.push_str(name);
    stream.push('/');
    let name_hash =
        name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    push_hex(&mut stream, pools::mix(seed, name_hash), 16);
    Source {
        name: name.to_string(),
        domain,
        tier,
        style,
        group: Arc::from(format!("/ecs/{name}")),
        stream: Arc::from(stream),
    }
}

/// A 10/8 address (flow logs of the VPC's own network).
fn internal_ip_v4(rng: &mut fastrand::Rng) -> String {
    let mut s = String::with_capacity(15);
    s.push_str("10.0.");
    push_u64(&mut s, rng.u64(0..16));
    s.push('.');
    push_u64(&mut s, rng.u64(1..255));
    s
}

struct Flow {
    src: String,
    dst: String,
    src_port: u64,
    dst_port: u64,
    protocol: u64,
    packets: u64,
    bytes: u64,
    accept: bool,
}

/// A version 2 default-format line: `2 account eni src dst sport dport proto packets bytes start end action status`.
fn write_line(out: &mut Vec<u8>, eni: &str, flow: Option<&Flow>, start: u64, end: u64) {
    let mut s = String::with_capacity(120);
    s.push_str("2 ");
    s.push_str(ACCOUNT);
    s.push(' ');
    s.push_str(eni);
    match flow {
        Some(f) => {
            for part in [&f.src, &f.dst] {
                s.push(' ');
                s.push_str(part);
            }
            for n in [f.src_port, f.dst_port, f.protocol, f.packets, f.bytes, start, end] {
                s.push(' ');
                push_u64(&mut s, n);
            }
            s.push_str(if f.accept { " ACCEPT OK" } else { " REJECT OK" });
        }
        None => {
            s.push_str(" - - - - - - -");
            for n in [start, end] {
                s.push(' ');
                push_u64(&mut s, n);
            }
            s.push_str(" - NODATA");
        }
    }
    out.extend_from_slice(s.as_bytes());
}
