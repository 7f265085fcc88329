//! clickstream: web, mobile app and smart-TV events.
//!
//! Each of 100,000 users has a platform, a user agent and an address derived
//! from the seed (the same user looks the same all run); sessions are
//! 30-minute slices of a user's time. Web traffic includes crawlers
//! (Googlebot from 66.249.x.x). No rule pack covers clickstream: the truth
//! holds the per-window counts only.

use super::pools::{
    mix, public_v4, public_v6, skewed, weighted, ANDROID_APP_UAS, BOT_UAS, BROWSER_UAS, IOS_APP_UAS, TV_UAS,
};
use super::writer::{push_hex, push_padded, push_u64};
use super::{Ctx, GeneratedEvent, Label};

/// Sources: the platforms.
pub(crate) const SOURCES: [&str; 4] = ["web", "ios-app", "android-app", "smart-tv"];

const USERS: usize = 100_000;
const SESSION_MS: i64 = 30 * 60 * 1000;
const CATEGORIES: [&str; 8] = ["shoes", "jackets", "electronics", "books", "garden", "toys", "beauty", "kitchen"];
const REFERRERS: [&str; 5] =
    ["", "https://www.google.com/", "https://www.bing.com/", "https://t.co/", "https://www.facebook.com/"];
const SCREENS: [&str; 6] = ["Home", "Search", "ProductDetail", "Cart", "Checkout", "Account"];

pub(crate) struct Clickstream;

impl Clickstream {
    pub fn new() -> Self {
        Self
    }

    pub fn emit(&mut self, ctx: &mut Ctx<'_>, ev: &mut GeneratedEvent) -> Label {
        let user_n = skewed(ctx.rng, USERS) as u64;
        let h = mix(ctx.seed, user_n);
        let platform = weighted(&mut fastrand::Rng::with_seed(h), &[(0usize, 50), (1, 20), (2, 22), (3, 8)]);
        let bot = platform == 0 && h % 50 == 0;
        let mut user = String::with_capacity(10);
        if bot {
            user.push('-');
        } else {
            push_padded(&mut user, "u-", user_n, 6);
        }
        let mut session = String::with_capacity(18);
        session.push_str("s-");
        push_hex(&mut session, mix(h, (ctx.time_ms / SESSION_MS) as u64), 12);
        let ip = if bot {
            let mut ip = String::from("66.249.");
            push_u64(&mut ip, 64 + (h >> 8) % 32);
            ip.push('.');
            push_u64(&mut ip, 1 + (h >> 16) % 254);
            ip
        } else if platform != 0 && (h >> 3) % 10 < 4 {
            public_v6(mix(h, (ctx.time_ms / SESSION_MS) as u64))
        } else {
            public_v4(h)
        };
        let ua = match platform {
            0 if bot => BOT_UAS[(h >> 5) as usize % BOT_UAS.len()],
            0 => BROWSER_UAS[(h >> 5) as usize % BROWSER_UAS.len()],
            1 => IOS_APP_UAS[(h >> 5) as usize % IOS_APP_UAS.len()],
            2 => ANDROID_APP_UAS[(h >> 5) as usize % ANDROID_APP_UAS.len()],
            _ => TV_UAS[(h >> 5) as usize % TV_UAS.len()],
        };
        let rng = &mut *ctx.rng;
        let mut page = String::with_capacity(32);
        let kind = match platform {
            0 => {
                let kind = if bot {
                    "page_view"
                } else {
                    weighted(
                        rng,
                        &[
                            ("page_view", 55),
                            ("click", 25),
                            ("scroll", 8),
                            ("search", 5),
                            ("add_to_cart", 5),
                            ("purchase", 2),
                        ],
                    )
                };
                match rng.u32(0..4) {
                    0 => page.push('/'),
                    1 => {
                        page.push_str("/category/");
                        page.push_str(CATEGORIES[rng.usize(0..CATEGORIES.len())]);
                    }
                    _ => {
                        page.push_str("/products/sku-");
                        push_u64(&mut page, rng.u64(100_000..200_000));
                    }
                }
                kind
            }
            1 | 2 => {
                page.push_str(SCREENS[rng.usize(0..SCREENS.len())]);
                weighted(
                    rng,
                    &[
                        ("screen_view", 50),
                        ("tap", 30),
                        ("app_open", 8),
                        ("add_to_cart", 6),
                        ("purchase", 2),
                        ("push_open", 4),
                    ],
                )
            }
            _ => {
                page.push_str("tt-");
                push_u64(&mut page, (h >> 9) % 5_000 + rng.u64(0..3));
                weighted(rng, &[("heartbeat", 65), ("play", 20), ("pause", 10), ("stop", 5)])
            }
        };
        let referrer = REFERRERS[rng.usize(0..REFERRERS.len())];
        let duration = rng.u64(50..30_000);
        let price = rng.i64(199..25_000);
        let position = rng.u64(0..7_200);
        let bitrate = [1_800u64, 3_500, 6_000, 12_000][rng.usize(0..4)];
        let source = SOURCES[platform];
        let mut obj = ctx.head(&mut ev.data, kind, source);
        obj.safe("user", &user).safe("session", &session).safe("ip", &ip).safe("ua", ua);
        match platform {
            0 => {
                obj.safe("page", &page).safe("referrer", referrer).u64("duration_ms", duration);
                if kind == "add_to_cart" || kind == "purchase" {
                    obj.fixed("price", price, 2).safe("currency", "USD");
                }
            }
            1 | 2 => {
                obj.safe("screen", &page)
                    .safe("app_version", if platform == 1 { "5.12.0" } else { "5.11.3" })
                    .u64("duration_ms", duration);
                if kind == "add_to_cart" || kind == "purchase" {
                    obj.fixed("price", price, 2).safe("currency", "USD");
                }
            }
            _ => {
                obj.safe("title_id", &page).u64("position_s", position).u64("bitrate_kbps", bitrate);
            }
        }
        obj.close();
        if bot {
            ev.partition_key.push_str(&ip);
        } else {
            ev.partition_key.push_str(&user);
        }
        Label { source: platform as u16, rules: 0, incident: None }
    }
}
