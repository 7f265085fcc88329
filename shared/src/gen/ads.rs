//! ads: ad views, clicks and add-to-cart events.
//!
//! A click follows a recent view of the same user and creative (`view_id`),
//! an add-to-cart a recent click (`click_id`); the recent views and clicks are
//! kept in fixed-size rings, so memory stays bounded. Injected: click floods
//! (a bot address clicking without views). No shipped rule pack covers ads.

use super::incidents::Incidents;
use super::pools::{mix, public_v4, skewed, BROWSER_UAS, SERVICE_UAS};
use super::writer::{push_id, push_padded};
use super::{Ctx, GeneratedEvent, IncidentMark, Label};

/// Sources: the ad server (views, clicks) and the shop (add-to-cart).
pub(crate) const SOURCES: [&str; 3] = ["ad-server", "shop-web", "shop-app"];
/// Incident kinds.
pub(crate) const INCIDENTS: [&str; 1] = ["click-flood"];

const USERS: usize = 150_000;
const CAMPAIGNS: u64 = 40;
const PLACEMENTS: [&str; 5] = ["home-hero", "search-top", "product-sidebar", "feed-inline", "checkout-upsell"];
const VIEW_RING: usize = 4_096;
const CLICK_RING: usize = 1_024;

#[derive(Debug, Clone, Copy)]
struct Seen {
    index: u64,
    user: u64,
    campaign: u64,
    creative: u64,
    placement: usize,
}

#[derive(Debug, Clone)]
struct Flood {
    ip: String,
}

pub(crate) struct Ads {
    views: Vec<Seen>,
    view_at: usize,
    clicks: Vec<Seen>,
    click_at: usize,
    incidents: Incidents<Flood>,
}

fn push_ring(ring: &mut Vec<Seen>, at: &mut usize, cap: usize, seen: Seen) {
    if ring.len() < cap {
        ring.push(seen);
    } else {
        ring[*at] = seen;
    }
    *at = (*at + 1) % cap;
}

impl Ads {
    pub fn new() -> Self {
        Self {
            views: Vec::with_capacity(VIEW_RING),
            view_at: 0,
            clicks: Vec::with_capacity(CLICK_RING),
            click_at: 0,
            incidents: Incidents::new(2, 5_000),
        }
    }

    pub fn in_progress(&self) -> Vec<u64> {
        self.incidents.serials()
    }

    pub fn held(&self) -> usize {
        self.views.len() + self.clicks.len() + self.incidents.len()
    }

    pub fn emit(&mut self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent) -> Label {
        let now = ctx.time_ms;
        if let Some(i) = self.incidents.due(now) {
            if let Some(active) = self.incidents.get(i) {
                let (first, serial) = (active.step == 0, active.serial);
                let ip = active.state.ip.clone();
                let rng = &mut *ctx.rng;
                let seen = Seen {
                    index: ctx.index,
                    user: rng.u64(0..USERS as u64),
                    campaign: rng.u64(0..CAMPAIGNS),
                    creative: rng.u64(0..2_000),
                    placement: rng.usize(0..PLACEMENTS.len()),
                };
                let gap = rng.i64(20..200);
                let label = self.write(ctx, ev, "click", &seen, None, &ip, SERVICE_UAS[1]);
                self.incidents.advance(i, now, gap);
                return Label { incident: Some(IncidentMark { kind: 0, serial, first }), ..label };
            }
        }
        if self.incidents.should_start(ctx.rng) {
            let ip = public_v4(ctx.rng.u64(..));
            let steps = ctx.rng.u32(30..200);
            self.incidents.start(now, steps, Flood { ip });
        }
        let rng = &mut *ctx.rng;
        let roll = rng.u32(0..100);
        if roll < 12 && !self.views.is_empty() {
            let view = self.views[rng.usize(0..self.views.len())];
            let click = Seen { index: ctx.index, ..view };
            push_ring(&mut self.clicks, &mut self.click_at, CLICK_RING, click);
            let (ip, ua) = person(ctx.seed, view.user);
            return self.write(ctx, ev, "click", &click, Some(("view_id", view.index)), &ip, ua);
        }
        if roll < 18 && !self.clicks.is_empty() {
            let click = self.clicks[rng.usize(0..self.clicks.len())];
            let (ip, ua) = person(ctx.seed, click.user);
            let cart = Seen { index: ctx.index, ..click };
            return self.write(ctx, ev, "add_to_cart", &cart, Some(("click_id", click.index)), &ip, ua);
        }
        let user = skewed(rng, USERS) as u64;
        let seen = Seen {
            index: ctx.index,
            user,
            campaign: skewed(rng, CAMPAIGNS as usize) as u64,
            creative: rng.u64(0..2_000),
            placement: rng.usize(0..PLACEMENTS.len()),
        };
        push_ring(&mut self.views, &mut self.view_at, VIEW_RING, seen);
        let (ip, ua) = person(ctx.seed, user);
        self.write(ctx, ev, "view", &seen, None, &ip, ua)
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        ctx: &mut Ctx<'_>,
        ev: &mut GeneratedEvent,
        kind: &str,
        seen: &Seen,
        parent: Option<(&str, u64)>,
        ip: &str,
        ua: &str,
    ) -> Label {
        let h = mix(ctx.seed, seen.user);
        let source = if kind == "add_to_cart" { 1 + (h % 2) as usize } else { 0 };
        let bid = ctx.rng.i64(5..400); // 0.0005 .. 0.04 USD per view
        let price = ctx.rng.i64(499..19_999);
        let quantity = 1 + ctx.rng.u64(0..3) / 2;
        let mut user = String::with_capacity(10);
        push_padded(&mut user, "u-", seen.user, 6);
        let mut campaign = String::with_capacity(8);
        push_padded(&mut campaign, "cmp-", seen.campaign, 3);
        let mut creative = String::with_capacity(9);
        push_padded(&mut creative, "cr-", seen.creative, 5);
        let mut parent_id = String::new();
        if let Some((_, index)) = parent {
            push_id(&mut parent_id, "ads", index);
        }
        let mut obj = ctx.head(&mut ev.data, kind, SOURCES[source]);
        obj.safe("user", &user)
            .safe("campaign", &campaign)
            .safe("creative", &creative)
            .safe("placement", PLACEMENTS[seen.placement])
            .safe("ip", ip)
            .safe("ua", ua);
        if let Some((name, _)) = parent {
            obj.str(name, &parent_id);
        }
        match kind {
            "view" => {
                obj.fixed("bid_usd", bid, 4);
            }
            "add_to_cart" => {
                let mut sku = String::with_capacity(10);
                push_padded(&mut sku, "sku-", seen.creative * 37 % 100_000, 6);
                obj.safe("product", &sku).fixed("price", price, 2).u64("quantity", quantity);
            }
            _ => {}
        }
        obj.close();
        ev.partition_key.push_str(&user);
        Label { source: source as u16, rules: 0, incident: None }
    }
}

/// A user's address and browser (stable all run).
fn person(seed: u64, user: u64) -> (String, &'static str) {
    let h = mix(seed ^ 0xad5, user);
    (public_v4(h), BROWSER_UAS[(h >> 11) as usize % BROWSER_UAS.len()])
}
