//! iot: one reading per device per second (the rate is the number of
//! devices; event `i` is device `i % rate`).
//!
//! A reading carries `device_id`, `site` (also its `source`: `plant-01` ..
//! `plant-12`), `model`, `firmware`, `temperature` (°C), `humidity` (%),
//! `battery` (%) and `rssi`. Values are drawn in tenths and written exactly
//! (`21.4`). Batteries drain over event time from a per-device level (one
//! device in 100 starts near empty). Injected faults, each on one device for
//! its next readings: heat spikes (> 60 °C), freezes (< -20 °C), humidity
//! sensor faults (< 0 or > 100 %), dropouts (`temperature` and `humidity`
//! null) and readings exactly on a limit (60.0, -20.0, 0.0, 100.0: in range).
//!
//! The truth of `rules/iot.yaml`: `temperature-out-of-range` = temperature
//! below -20.0 or above 60.0; `humidity-out-of-range` = below 0.0 or above
//! 100.0; `battery-low` = battery at most 10 (every reading has `device_id`);
//! null values match nothing.

use super::pools::{mix, weighted};
use super::writer::push_padded;
use super::{Ctx, GeneratedEvent, IncidentMark, Label};

/// The rules of `rules/iot.yaml`, in file order.
pub(crate) const RULES: [&str; 3] = ["temperature-out-of-range", "humidity-out-of-range", "battery-low"];
/// Incident kinds.
pub(crate) const INCIDENTS: [&str; 5] = ["heat-spike", "freeze", "humidity-fault", "dropout", "limit-reading"];

const SITES: u64 = 12;
const MODELS: [(&str, &str); 3] = [("TH-200", "2.4.1"), ("TH-200", "2.3.9"), ("EnviroSense-X", "1.12.0")];
const FAULT_CAP: usize = 16;

/// The sources: one per site.
pub(crate) fn sources() -> Vec<String> {
    (1..=SITES)
        .map(|i| {
            let mut s = String::new();
            push_padded(&mut s, "plant-", i, 2);
            s
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    device: u64,
    kind: u8,
    serial: u64,
    left: u32,
    first: bool,
}

pub(crate) struct Iot {
    faults: Vec<Fault>,
    sites: Vec<String>,
    /// Faults started so far (the next one's serial).
    started: u64,
}

impl Iot {
    pub fn new() -> Self {
        Self { faults: Vec::with_capacity(FAULT_CAP), sites: sources(), started: 0 }
    }

    pub fn in_progress(&self) -> Vec<u64> {
        self.faults.iter().map(|f| f.serial).collect()
    }

    pub fn held(&self) -> usize {
        self.faults.len()
    }

    pub fn emit(&mut self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent) -> Label {
        let devices = u64::from(ctx.rate.max(1));
        let device = ctx.index % devices;
        let h = mix(ctx.seed ^ 0x107, device);
        let site = h % SITES;
        let (model, firmware) = MODELS[((h >> 8) % MODELS.len() as u64) as usize];

        if self.faults.len() < FAULT_CAP && ctx.rng.u32(0..2_000) == 0 {
            let target = ctx.rng.u64(0..devices);
            if !self.faults.iter().any(|f| f.device == target) {
                let kind = weighted(ctx.rng, &[(0u8, 25), (1, 15), (2, 25), (3, 20), (4, 15)]);
                let left = ctx.rng.u32(3..40);
                self.faults.push(Fault { device: target, kind, serial: self.started, left, first: true });
                self.started += 1;
            }
        }

        let rng = &mut *ctx.rng;
        let base_t = 150 + (h >> 16) as i64 % 150; // 15.0 .. 30.0
        let base_h = 300 + (h >> 24) as i64 % 400; // 30.0 .. 70.0
        let mut temperature = Some(base_t + rng.i64(-8..=8));
        let mut humidity = Some(base_h + rng.i64(-20..=20));
        let mut incident = None;
        if let Some(at) = self.faults.iter().position(|f| f.device == device) {
            let fault = &mut self.faults[at];
            incident = Some(IncidentMark { kind: fault.kind, serial: fault.serial, first: fault.first });
            fault.first = false;
            match fault.kind {
                0 => temperature = Some(rng.i64(601..950)),
                1 => temperature = Some(rng.i64(-400..-200)),
                2 => humidity = Some(if rng.bool() { rng.i64(1_001..1_200) } else { rng.i64(-100..0) }),
                3 => {
                    temperature = None;
                    humidity = None;
                }
                _ => match rng.u32(0..4) {
                    0 => temperature = Some(600),
                    1 => temperature = Some(-200),
                    2 => humidity = Some(0),
                    _ => humidity = Some(1_000),
                },
            }
            fault.left = fault.left.saturating_sub(1);
            if fault.left == 0 {
                self.faults.remove(at);
            }
        }

        // battery: a start level per device (1 in 100 nearly empty) minus 0-3 % per hour of event time
        let start_level = if (h >> 32) % 100 == 0 { 8 + (h >> 40) as i64 % 6 } else { 20 + (h >> 40) as i64 % 81 };
        let drain_per_hour = ((h >> 48) % 4) as i64;
        let elapsed = (ctx.time_ms - ctx.start_ms).max(0);
        let battery = (start_level - elapsed * drain_per_hour / 3_600_000).max(0);
        let rssi = -40 - rng.i64(0..50);

        let mut device_id = String::with_capacity(10);
        push_padded(&mut device_id, "dev-", device, 6);
        let site_name = &self.sites[site as usize];
        let mut obj = ctx.head(&mut ev.data, "reading", site_name);
        obj.safe("device_id", &device_id).safe("site", site_name).safe("model", model).safe("firmware", firmware);
        match temperature {
            Some(t) => obj.fixed("temperature", t, 1),
            None => obj.null("temperature"),
        };
        match humidity {
            Some(x) => obj.fixed("humidity", x, 1),
            None => obj.null("humidity"),
        };
        obj.i64("battery", battery).i64("rssi", rssi);
        obj.close();
        ev.partition_key.push_str(&device_id);

        let mut rules = 0;
        if temperature.is_some_and(|t| !(-200..=600).contains(&t)) {
            rules |= 1;
        }
        if humidity.is_some_and(|x| !(0..=1_000).contains(&x)) {
            rules |= 2;
        }
        if battery <= 10 {
            rules |= 4;
        }
        Label { source: site as u16, rules, incident }
    }
}
