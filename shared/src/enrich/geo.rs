//! Geo from the client IP (IPv4 and IPv6) with MaxMind DB format databases
//! (GeoIP2 / GeoLite2 City or Country, and optionally a separate ASN database),
//! read with the `maxminddb` crate.
//!
//! A lookup walks the database's search tree to a data record; records are
//! shared by many networks, so the rendered JSON of each record is cached by
//! its data-section offset and most lookups decode nothing.

use std::net::IpAddr;

use serde::Deserialize;

use crate::json::{write_f64, write_str, write_u64};

use super::cache::BoundedCache;

/// One MaxMind DB format database held in memory.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.reader.metadata();
        f.debug_struct("GeoDb").field("database_type", &m.database_type).field("ip_version", &m.ip_version).finish()
    }
}

impl GeoDb {
    /// Opens a database from its bytes (a file's or an S3 object's); fails on a
    /// file that is not a MaxMind DB.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, maxminddb::MaxMindDbError> {
        Ok(Self { reader: maxminddb::Reader::from_source(bytes)? })
    }

    /// The database type named in its metadata (e.g. `GeoLite2-City`).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Appends the record for `ip` as JSON members (no braces), rendering it
    /// once per record; returns whether anything was written.
    fn write_part(&self, ip: IpAddr, asn: bool, cache: &mut BoundedCache<usize, Box<[u8]>>, out: &mut Vec<u8>) -> bool {
        let Ok(found) = self.reader.lookup(ip) else {
            return false;
        };
        let Some(offset) = found.offset() else {
            return false;
        };
        if let Some(part) = cache.get(&offset) {
            out.extend_from_slice(part);
            return !part.is_empty();
        }
        let start = out.len();
        if let Ok(Some(record)) = found.decode::<GeoRecord<'_>>() {
            record.write(asn, out);
        }
        cache.insert(offset, out[start..].into());
        out.len() > start
    }
}

/// The fields enrich reads from a City, Country, Enterprise or ASN record.
#[derive(Debug, Default, Deserialize)]
struct GeoRecord<'a> {
    #[serde(borrow, default)]
    country: Option<Place<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<Place<'a>>,
    #[serde(borrow, default)]
    city: Option<Place<'a>>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(borrow, default)]
    traits: Option<Asn<'a>>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
struct Place<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
struct Location {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
struct Asn<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

impl GeoRecord<'_> {
    /// `"country":..,"city":..,"lat":..,"lon":..` and, when `asn`, `"asn":..,"as_org":..`; absent values left out.
    fn write(&self, asn: bool, out: &mut Vec<u8>) {
        let mut w = Members { out, first: true };
        let country = [&self.country, &self.registered_country].into_iter().flatten().find_map(|p| p.iso_code);
        if let Some(c) = country {
            w.key("country");
            write_str(w.out, c);
        }
        if let Some(name) = self.city.as_ref().and_then(|c| c.names.as_ref()).and_then(|n| n.en) {
            w.key("city");
            write_str(w.out, name);
        }
        if let Some(Location { latitude: Some(lat), longitude: Some(lon) }) = self.location {
            w.key("lat");
            write_f64(w.out, lat);
            w.key("lon");
            write_f64(w.out, lon);
        }
        if asn {
            let traits = self.traits.as_ref();
            if let Some(n) = self.autonomous_system_number.or(traits.and_then(|t| t.autonomous_system_number)) {
                w.key("asn");
                write_u64(w.out, n.into());
            }
            let org = self.autonomous_system_organization.or(traits.and_then(|t| t.autonomous_system_organization));
            if let Some(org) = org {
                w.key("as_org");
                write_str(w.out, org);
            }
        }
    }
}

/// Writes `"key":` members separated by commas.
struct Members<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl Members<'_> {
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        crate::json::write_key(self.out, key);
    }
}

/// The geo lookups: a city (or country) database and an optional ASN database.
#[derive(Debug, Default)]
pub struct Geo {
    /// City or country database (may also carry ASN fields).
    pub city: Option<GeoDb>,
    /// A separate ASN database; its ASN fields win over the city database's.
    pub asn: Option<GeoDb>,
}

/// The rendered records of the geo databases, by data offset.
#[derive(Debug, Clone)]
pub struct GeoCaches {
    city: BoundedCache<usize, Box<[u8]>>,
    asn: BoundedCache<usize, Box<[u8]>>,
}

impl GeoCaches {
    /// Caches of at most `capacity` records each.
    pub fn new(capacity: usize) -> Self {
        Self { city: BoundedCache::new(capacity), asn: BoundedCache::new(capacity) }
    }

    /// Records held now (both databases).
    pub fn len(&self) -> usize {
        self.city.len() + self.asn.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Geo {
    /// Whether any database is loaded (no database: the geo step is skipped).
    pub fn is_enabled(&self) -> bool {
        self.city.is_some() || self.asn.is_some()
    }

    /// Appends `"geo":{...}` for `ip` when a database knows something about it;
    /// returns whether it did (nothing is appended otherwise).
    pub fn write(&self, ip: IpAddr, caches: &mut GeoCaches, out: &mut Vec<u8>) -> bool {
        let mark = out.len();
        out.extend_from_slice(b"\"geo\":{");
        let mut wrote = false;
        if let Some(db) = &self.city {
            wrote = db.write_part(ip, self.asn.is_none(), &mut caches.city, out);
        }
        if let Some(db) = &self.asn {
            let comma = wrote;
            if comma {
                out.push(b',');
            }
            if db.write_part(ip, true, &mut caches.asn, out) {
                wrote = true;
            } else if comma {
                out.pop();
            }
        }
        if wrote {
            out.push(b'}');
        } else {
            out.truncate(mark);
        }
        wrote
    }
}

/// The client address in an IP field: a plain IPv4 or IPv6 address, also
/// with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`) or as the first entry of
/// an `X-Forwarded-For` list; IPv4-mapped IPv6 addresses become IPv4.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Some(ip) = dotted_quad(text.as_bytes()) {
        return Some(IpAddr::V4(ip));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let first = text.split(',').next()?.trim();
    let ip = first.parse::<IpAddr>().ok().or_else(|| {
        if let Some(rest) = first.strip_prefix('[') {
            rest.split(']').next()?.parse().ok()
        } else {
            let (host, port) = first.split_once(':')?;
            (!port.contains(':')).then(|| host.parse().ok()).flatten()
        }
    })?;
    Some(ip.to_canonical())
}

/// The most common shape, `a.b.c.d` as std writes it (no leading zeros),
/// read in one pass; `None` for anything else, which std's parser then reads.
fn dotted_quad(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            (b.get(i) == Some(&b'.')).then_some(())?;
            i += 1;
        }
        let start = i;
        let mut value: u32 = 0;
        while let Some(d @ b'0'..=b'9') = b.get(i) {
            value = value * 10 + u32::from(d - b'0');
            i += 1;
            if i - start > 3 {
                return None;
            }
        }
        let digits = i - start;
        if digits == 0 || (digits > 1 && b.get(start) == Some(&b'0')) {
            return None;
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == b.len()).then(|| std::net::Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_dotted_quad_reader_agrees_with_std(s in "[0-9.]{0,17}|[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,4}", ip in any::<u32>()) {
            // what it reads, std reads the same; what it leaves, std is asked
            if let Some(fast) = dotted_quad(s.as_bytes()) {
                prop_assert_eq!(s.parse::<std::net::Ipv4Addr>().ok(), Some(fast));
            }
            let ip = std::net::Ipv4Addr::from(ip);
            prop_assert_eq!(dotted_quad(ip.to_string().as_bytes()), Some(ip));
            if let Ok(std) = s.parse::<IpAddr>() {
                prop_assert_eq!(parse_ip(&s), Some(std.to_canonical()));
            }
        }
    }

    #[test]
    fn given_addresses_in_usual_shapes_when_parsed_then_the_client_ip_is_found() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(parse_ip("192.0.2.7"), Some(v4));
        assert_eq!(parse_ip(" 192.0.2.7:8443"), Some(v4));
        assert_eq!(parse_ip("192.0.2.7, 10.0.0.1"), Some(v4));
        assert_eq!(parse_ip("::ffff:192.0.2.7"), Some(v4));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(parse_ip("2001:db8::1"), Some(v6));
        assert_eq!(parse_ip("[2001:db8::1]:443"), Some(v6));
        assert_eq!(parse_ip("not an ip"), None);
        assert_eq!(parse_ip(""), None);
    }

    #[test]
    fn given_bytes_that_are_not_a_database_when_opened_then_an_error() {
        assert!(GeoDb::from_bytes(b"definitely not an mmdb".to_vec()).is_err());
    }
}
