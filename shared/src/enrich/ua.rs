//! User agent -> browser, OS and device class, with the `woothee` classifier.
//! User-agent strings repeat a lot, so each distinct one is classified once
//! and its rendered JSON kept in a bounded cache.

use crate::json::{write_key, write_str};

use super::cache::BoundedCache;

/// What a user agent says, as enrich reports it (`None`: not recognised).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAgent {
    /// Browser (or client) name, e.g. `Chrome`, `Safari`, `Googlebot`.
    pub browser: Option<String>,
    /// Browser version, e.g. `120.0.0.0`.
    pub browser_version: Option<String>,
    /// Operating system, e.g. `Windows 10`, `iPhone`, `Android`.
    pub os: Option<String>,
    /// Operating system version, e.g. `17.1`.
    pub os_version: Option<String>,
    /// Device class: `desktop`, `mobile`, `appliance`, `bot` or `other`.
    pub device: Option<&'static str>,
}

/// woothee's word for "not recognised".
const UNKNOWN: &str = "UNKNOWN";

fn known(s: &str) -> Option<String> {
    (!s.is_empty() && s != UNKNOWN).then(|| s.to_string())
}

/// The device class of a woothee category.
fn device_class(category: &str) -> Option<&'static str> {
    match category {
        "pc" => Some("desktop"),
        "smartphone" | "mobilephone" => Some("mobile"),
        "appliance" => Some("appliance"),
        "crawler" => Some("bot"),
        "misc" => Some("other"),
        _ => None,
    }
}

/// Classifies a user-agent string.
pub fn classify(ua: &str) -> UserAgent {
    let Some(r) = woothee::parser::Parser::new().parse(ua) else {
        return UserAgent::default();
    };
    UserAgent {
        browser: known(r.name),
        browser_version: known(r.version),
        os: known(r.os),
        os_version: known(&r.os_version),
        device: device_class(r.category),
    }
}

impl UserAgent {
    /// Appends `"ua":{"original":..,"browser":..,"browser_version":..,"os":..,"os_version":..,"device":..}`
    /// (what is not recognised left out; `original` is the string itself).
    pub fn write(&self, original: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"ua\":{");
        write_key(out, "original");
        write_str(out, original);
        let text = [
            ("browser", self.browser.as_deref()),
            ("browser_version", self.browser_version.as_deref()),
            ("os", self.os.as_deref()),
            ("os_version", self.os_version.as_deref()),
            ("device", self.device),
        ];
        for (key, value) in text {
            if let Some(v) = value {
                out.push(b',');
                write_key(out, key);
                write_str(out, v);
            }
        }
        out.push(b'}');
    }
}

/// User agents longer than this are classified every time, never cached: the
/// cache's memory stays bounded (entries x this) whatever clients send.
pub const MAX_CACHED_UA_BYTES: usize = 512;

/// Appends the `"ua":{...}` member for `ua`, classifying each distinct string once.
pub fn write_cached(ua: &str, cache: &mut BoundedCache<Box<str>, Box<[u8]>>, out: &mut Vec<u8>) {
    if let Some(rendered) = cache.get(ua) {
        out.extend_from_slice(rendered);
        return;
    }
    let start = out.len();
    classify(ua).write(ua, out);
    if ua.len() <= MAX_CACHED_UA_BYTES {
        cache.insert(ua.into(), out[start..].into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_desktop_browser_when_classified_then_browser_os_and_desktop() {
        let ua = classify(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        );
        assert_eq!(ua.browser.as_deref(), Some("Chrome"));
        assert_eq!(ua.browser_version.as_deref(), Some("120.0.0.0"));
        assert_eq!(ua.os.as_deref(), Some("Windows 10"));
        assert_eq!(ua.device, Some("desktop"));
    }

    #[test]
    fn given_an_iphone_when_classified_then_mobile_safari_on_ios() {
        let ua = classify(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(ua.browser.as_deref(), Some("Safari"));
        assert_eq!(ua.os.as_deref(), Some("iPhone"));
        assert_eq!(ua.os_version.as_deref(), Some("17.1"));
        assert_eq!(ua.device, Some("mobile"));
    }

    #[test]
    fn given_an_android_phone_when_classified_then_mobile() {
        let ua = classify(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
        );
        assert_eq!(ua.os.as_deref(), Some("Android"));
        assert_eq!(ua.device, Some("mobile"));
    }

    #[test]
    fn given_a_crawler_when_classified_then_bot() {
        let ua = classify("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(ua.browser.as_deref(), Some("Googlebot"));
        assert_eq!(ua.device, Some("bot"));
    }

    #[test]
    fn given_gibberish_when_classified_then_nothing_is_claimed() {
        assert_eq!(classify("zz-unknown-client"), UserAgent::default());
        assert_eq!(classify(""), UserAgent::default());
    }

    #[test]
    fn given_a_repeated_user_agent_when_written_then_it_is_classified_once_and_cached() {
        let mut cache = BoundedCache::new(8);
        let mut first = Vec::new();
        write_cached("curl/8.4.0", &mut cache, &mut first);
        assert_eq!(cache.len(), 1);
        let mut second = Vec::new();
        write_cached("curl/8.4.0", &mut cache, &mut second);
        assert_eq!(first, second);
        let v: serde_json::Value = serde_json::from_slice(&[b"{", &first[..], b"}"].concat()).unwrap();
        assert_eq!(v["ua"]["original"], "curl/8.4.0");
    }

    #[test]
    fn given_an_oversized_user_agent_when_written_then_it_is_not_cached() {
        let mut cache = BoundedCache::new(8);
        let huge = format!("Mozilla/5.0 {}", "x".repeat(MAX_CACHED_UA_BYTES));
        let mut out = Vec::new();
        write_cached(&huge, &mut cache, &mut out);
        assert!(cache.is_empty());
        assert!(out.len() > MAX_CACHED_UA_BYTES, "still written whole");
    }
}
