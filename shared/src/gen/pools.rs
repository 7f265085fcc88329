//! What the scenarios draw from: the 100 services and their catalog, IP
//! addresses by network class, real-looking user agents, cities.

use serde_json::json;

use super::writer::{push_hex, push_u64};

/// splitmix64 of `a` and `b`: stable per-entity attributes (a user's address,
/// a device's battery) without keeping state, different for every seed.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An index in `0..n` skewed towards 0 (a few busy services, many quiet ones).
pub(crate) fn skewed(rng: &mut fastrand::Rng, n: usize) -> usize {
    let x = rng.f64();
    ((x * x * n as f64) as usize).min(n.saturating_sub(1))
}

/// Picks from `items` by integer weight.
pub(crate) fn weighted<T: Copy>(rng: &mut fastrand::Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.u32(0..total.max(1));
    for &(item, w) in items {
        if r < w {
            return item;
        }
        r -= w;
    }
    items[items.len() - 1].0
}

/// Business domains: name, owning team, tier of its API.
pub(crate) const DOMAINS: [(&str, &str, u8); 20] = [
    ("auth", "identity", 1),
    ("identity", "identity", 1),
    ("sessions", "identity", 2),
    ("profile", "identity", 3),
    ("checkout", "commerce", 1),
    ("cart", "commerce", 2),
    ("orders", "commerce", 1),
    ("payments", "payments", 1),
    ("ledger", "payments", 1),
    ("billing", "payments", 2),
    ("fraud", "risk", 1),
    ("catalog", "discovery", 2),
    ("search", "discovery", 2),
    ("recommendations", "discovery", 3),
    ("reviews", "discovery", 3),
    ("pricing", "commerce", 2),
    ("inventory", "logistics", 2),
    ("shipping", "logistics", 2),
    ("notifications", "engagement", 3),
    ("media", "content", 3),
];

/// The roles of each domain's services; `api` and `gateway` keep the domain's
/// tier, the others are one tier less critical.
pub(crate) const ROLES: [&str; 5] = ["api", "gateway", "worker", "admin", "sync"];

/// One of the 100 services (`svc-<domain>-<role>`).
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub name: String,
    pub domain: usize,
    pub role: usize,
    pub team: &'static str,
    pub tier: u8,
}

/// The 100 services, domain by domain.
pub(crate) fn services() -> Vec<Service> {
    let mut out = Vec::with_capacity(DOMAINS.len() * ROLES.len());
    for (domain, &(name, team, tier)) in DOMAINS.iter().enumerate() {
        for (role, role_name) in ROLES.iter().enumerate() {
            let tier = if role < 2 { tier } else { (tier + 1).min(3) };
            out.push(Service { name: format!("svc-{name}-{role_name}"), domain, role, team, tier });
        }
    }
    out
}

/// The catalog of [`services`] in enrich's documented format.
pub(crate) fn catalog_json() -> String {
    let services: Vec<serde_json::Value> = services()
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "team": s.team,
                "tier": s.tier,
                "owner": format!("{}-oncall@example.com", s.team),
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({ "services": services })).unwrap_or_default();
    text.push('\n');
    text
}

/// How the shipped security rules see an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpClass {
    /// In the company's networks (10/8, 172.16/12, 192.168/16, fd00::/8).
    Internal,
    /// Anywhere else that is not block-listed.
    Public,
    /// In the block list (203.0.113.0/24, 198.51.100.0/24, 192.0.2.66).
    Listed,
}

/// First octets of public IPv4 addresses: 1-223 without 10 (private), 100
/// (carrier NAT), 127, 169 (link-local), 172 and 192 (private ranges) and 198
/// and 203 (documentation ranges the block list uses).
const PUBLIC_FIRST: [u8; 215] = public_first();

const fn public_first() -> [u8; 215] {
    let mut out = [0u8; 215];
    let mut n = 0;
    let mut octet = 1u32;
    while octet <= 223 {
        let o = octet as u8;
        if !matches!(o, 10 | 100 | 127 | 169 | 172 | 192 | 198 | 203) {
            out[n] = o;
            n += 1;
        }
        octet += 1;
    }
    out
}

fn push_v4(out: &mut String, a: u64, b: u64, c: u64, d: u64) {
    push_u64(out, a);
    out.push('.');
    push_u64(out, b);
    out.push('.');
    push_u64(out, c);
    out.push('.');
    push_u64(out, d);
}

/// A public IPv4 address derived from `h` (the same `h`, the same address).
pub(crate) fn public_v4(h: u64) -> String {
    let mut s = String::with_capacity(15);
    let first = PUBLIC_FIRST[(h % PUBLIC_FIRST.len() as u64) as usize];
    push_v4(&mut s, u64::from(first), (h >> 8) & 0xff, (h >> 16) & 0xff, 1 + ((h >> 24) % 254));
    s
}

/// Public IPv6 prefixes of mobile and broadband networks.
const PUBLIC_V6: [&str; 5] = ["2a02:c7c:", "2607:fb90:", "2a01:cb00:", "2600:1700:", "2001:4860:"];

/// A public IPv6 address derived from `h`.
pub(crate) fn public_v6(h: u64) -> String {
    let mut s = String::with_capacity(39);
    s.push_str(PUBLIC_V6[(h % PUBLIC_V6.len() as u64) as usize]);
    push_hex(&mut s, (h >> 8) & 0xffff, 4);
    s.push(':');
    push_hex(&mut s, (h >> 24) & 0xffff, 4);
    s.push_str("::");
    push_hex(&mut s, 1 + ((h >> 40) & 0xfffe), 4);
    s
}

/// A company address: 10/8 mostly, some 172.16/12, 192.168/16 and VPN IPv6 (fd00::/8).
pub(crate) fn internal_ip(rng: &mut fastrand::Rng) -> String {
    let mut s = String::with_capacity(24);
    match rng.u32(0..100) {
        0..=69 => push_v4(&mut s, 10, rng.u64(0..256), rng.u64(0..256), rng.u64(1..255)),
        70..=81 => push_v4(&mut s, 172, rng.u64(16..32), rng.u64(0..256), rng.u64(1..255)),
        82..=93 => push_v4(&mut s, 192, 168, rng.u64(0..256), rng.u64(1..255)),
        _ => {
            s.push_str("fd12:3456:789a:");
            push_hex(&mut s, rng.u64(1..0x100), 1);
            s.push_str("::");
            push_hex(&mut s, rng.u64(1..0xffff), 4);
        }
    }
    s
}

/// A block-listed address: 203.0.113.0/24, 198.51.100.0/24 or 192.0.2.66.
pub(crate) fn listed_ip(rng: &mut fastrand::Rng) -> String {
    let mut s = String::with_capacity(15);
    match rng.u32(0..10) {
        0..=4 => push_v4(&mut s, 203, 0, 113, rng.u64(0..256)),
        5..=8 => push_v4(&mut s, 198, 51, 100, rng.u64(0..256)),
        _ => s.push_str("192.0.2.66"),
    }
    s
}

/// A public address right next to the block list (192.0.2.65, 203.0.112.x,
/// 198.51.101.x, ...): must not be taken for a listed one.
pub(crate) fn near_listed_ip(rng: &mut fastrand::Rng) -> String {
    let mut s = String::with_capacity(15);
    match rng.u32(0..5) {
        0 => s.push_str("192.0.2.65"),
        1 => s.push_str("192.0.2.67"),
        2 => push_v4(&mut s, 203, 0, 112, rng.u64(0..256)),
        3 => push_v4(&mut s, 203, 0, 114, rng.u64(0..256)),
        _ => push_v4(&mut s, 198, 51, 101, rng.u64(0..256)),
    }
    s
}

/// Desktop and mobile browsers.
pub(crate) const BROWSER_UAS: [&str; 10] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
];

/// iOS app clients.
pub(crate) const IOS_APP_UAS: [&str; 3] = [
    "ShopApp/5.12.0 (iPhone15,2; iOS 17.4.1; Scale/3.00) CFNetwork/1494.0.7 Darwin/23.4.0",
    "ShopApp/5.12.0 (iPhone14,5; iOS 17.3.1; Scale/3.00) CFNetwork/1492.0.1 Darwin/23.3.0",
    "ShopApp/5.11.2 (iPad13,4; iPadOS 16.7.5; Scale/2.00) CFNetwork/1410.1 Darwin/22.6.0",
];

/// Android app clients.
pub(crate) const ANDROID_APP_UAS: [&str; 3] = [
    "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP1A.240405.002)",
    "Dalvik/2.1.0 (Linux; U; Android 13; SM-S918B Build/TP1A.220624.014)",
    "okhttp/4.12.0",
];

/// Smart TVs and streaming devices.
pub(crate) const TV_UAS: [&str; 4] = [
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) 94.0.4606.31/7.0 TV Safari/537.36",
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 Safari/537.36 WebAppManager",
    "Roku/DVP-12.5 (12.5.0.4178-46)",
    "AppleTV14,1/17.4 (21L227)",
];

/// Crawlers.
pub(crate) const BOT_UAS: [&str; 2] = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
];

/// Service-to-service and tooling clients.
pub(crate) const SERVICE_UAS: [&str; 4] =
    ["aws-sdk-go/1.51.21 (go1.22.2; linux; amd64)", "python-requests/2.31.0", "okhttp/4.12.0", "Go-http-client/2.0"];

/// Attack tools.
pub(crate) const SCANNER_UAS: [&str; 5] = [
    "sqlmap/1.8.4#stable (https://sqlmap.org)",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "python-requests/2.31.0",
    "curl/8.4.0",
];

/// Cities: country, name, latitude, longitude, currency.
pub(crate) const CITIES: [(&str, &str, f64, f64, &str); 20] = [
    ("US", "New York", 40.7128, -74.006, "USD"),
    ("US", "Seattle", 47.6062, -122.3321, "USD"),
    ("US", "Chicago", 41.8781, -87.6298, "USD"),
    ("CA", "Toronto", 43.6532, -79.3832, "CAD"),
    ("BR", "São Paulo", -23.5505, -46.6333, "BRL"),
    ("GB", "London", 51.5074, -0.1278, "GBP"),
    ("FR", "Paris", 48.8566, 2.3522, "EUR"),
    ("DE", "Berlin", 52.52, 13.405, "EUR"),
    ("ES", "Madrid", 40.4168, -3.7038, "EUR"),
    ("NL", "Amsterdam", 52.3676, 4.9041, "EUR"),
    ("PL", "Warsaw", 52.2297, 21.0122, "PLN"),
    ("ZA", "Johannesburg", -26.2041, 28.0473, "ZAR"),
    ("AE", "Dubai", 25.2048, 55.2708, "AED"),
    ("IN", "Mumbai", 19.076, 72.8777, "INR"),
    ("SG", "Singapore", 1.3521, 103.8198, "SGD"),
    ("JP", "Tokyo", 35.6762, 139.6503, "JPY"),
    ("KR", "Seoul", 37.5665, 126.978, "KRW"),
    ("AU", "Sydney", -33.8688, 151.2093, "AUD"),
    ("MX", "Mexico City", 19.4326, -99.1332, "MXN"),
    ("NG", "Lagos", 6.5244, 3.3792, "NGN"),
];

/// Great-circle distance between two cities of [`CITIES`], km.
pub(crate) fn distance_km(a: usize, b: usize) -> f64 {
    let (_, _, lat1, lon1, _) = CITIES[a];
    let (_, _, lat2, lon2, _) = CITIES[b];
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_100_services_with_tiers_1_to_3() {
        let s = services();
        assert_eq!(s.len(), 100);
        assert!(s.iter().all(|s| (1..=3).contains(&s.tier)));
        assert_eq!(s.iter().filter(|s| s.tier == 1).count(), 14);
        let catalog = crate::enrich::Catalog::from_json(catalog_json().as_bytes()).unwrap();
        assert_eq!(catalog.len(), 100);
    }

    #[test]
    fn public_addresses_stay_out_of_private_and_listed_networks() {
        for h in 0..20_000u64 {
            let ip: std::net::Ipv4Addr = public_v4(mix(9, h)).parse().unwrap();
            let [a, b, ..] = ip.octets();
            assert!(!ip.is_private() && !ip.is_loopback() && !ip.is_documentation() && a != 0 && a < 224, "{ip}");
            let carrier_nat = a == 100 && (64..128).contains(&b);
            let link_local = a == 169 && b == 254;
            assert!(!carrier_nat && !link_local, "{ip}");
            let v6: std::net::Ipv6Addr = public_v6(mix(9, h)).parse().unwrap();
            assert_ne!(v6.segments()[0] & 0xff00, 0xfd00, "{v6}");
        }
        assert!((distance_km(5, 17) - 16_990.0).abs() < 100.0, "London-Sydney");
    }
}
