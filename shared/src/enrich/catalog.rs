//! The service catalog: service name -> team, tier, owner (and whatever else
//! the file says about the service), loaded once at init from JSON.
//!
//! Accepted shapes (the first is the documented one):
//!
//! ```json
//! {"services": [{"name": "svc-auth", "team": "identity", "tier": 1, "owner": "alice@example.com"}]}
//! [{"name": "svc-auth", "team": "identity", "tier": 1, "owner": "alice@example.com"}]
//! {"svc-auth": {"team": "identity", "tier": 1, "owner": "alice@example.com"}}
//! ```
//!
//! Each entry is rendered once, at load, as the `"service":{"name":..,...}`
//! member enrich appends, so a hit costs one hash lookup and a copy.

use serde_json::{Map, Value};

use crate::json::{write_key, write_str};

use super::cache::FastMap;

/// Service name -> the rendered `"service":{...}` member.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: FastMap<Box<str>, Box<[u8]>>,
}

/// Why a catalog file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// Not JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// Valid JSON of an unknown shape.
    #[error("expected {{\"services\": [...]}}, an array of services, or an object of services by name")]
    Shape,
    /// An entry is not an object with a non-empty name.
    #[error("service entry {index}: {problem}")]
    Entry {
        /// Position (or name) of the entry.
        index: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Two entries share a name.
    #[error("service {0:?} is listed twice")]
    Duplicate(String),
}

impl Catalog {
    /// Reads a catalog file's bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, CatalogError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| CatalogError::Json(e.to_string()))?;
        let mut catalog = Catalog::default();
        match value {
            Value::Object(mut top) if top.get("services").is_some_and(Value::is_array) => {
                let Some(Value::Array(list)) = top.remove("services") else {
                    return Err(CatalogError::Shape);
                };
                catalog.add_list(list)?;
            }
            Value::Array(list) => catalog.add_list(list)?,
            Value::Object(by_name) => {
                for (name, entry) in by_name {
                    let Value::Object(fields) = entry else {
                        return Err(CatalogError::Entry { index: name, problem: "is not an object" });
                    };
                    catalog.add(name, fields)?;
                }
            }
            _ => return Err(CatalogError::Shape),
        }
        Ok(catalog)
    }

    fn add_list(&mut self, list: Vec<Value>) -> Result<(), CatalogError> {
        for (index, entry) in list.into_iter().enumerate() {
            let Value::Object(mut fields) = entry else {
                return Err(CatalogError::Entry { index: index.to_string(), problem: "is not an object" });
            };
            let name = match fields.remove("name") {
                Some(Value::String(name)) if !name.trim().is_empty() => name,
                _ => return Err(CatalogError::Entry { index: index.to_string(), problem: "has no \"name\" string" }),
            };
            self.add(name, fields)?;
        }
        Ok(())
    }

    fn add(&mut self, name: String, mut fields: Map<String, Value>) -> Result<(), CatalogError> {
        fields.remove("name");
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"\"service\":{");
        write_key(&mut out, "name");
        write_str(&mut out, &name);
        for (key, value) in &fields {
            out.push(b',');
            write_str(&mut out, key);
            out.push(b':');
            serde_json::to_writer(&mut out, value).map_err(|e| CatalogError::Json(e.to_string()))?;
        }
        out.push(b'}');
        if self.entries.insert(name.clone().into(), out.into()).is_some() {
            return Err(CatalogError::Duplicate(name));
        }
        Ok(())
    }

    /// The rendered `"service":{...}` member of `name`, if the catalog has it.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries.get(name).map(|b| &b[..])
    }

    /// Services listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the catalog lists nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(catalog: &Catalog, name: &str) -> Option<Value> {
        let bytes = catalog.get(name)?;
        let v: Value = serde_json::from_slice(&[b"{", bytes, b"}"].concat()).unwrap();
        Some(v["service"].clone())
    }

    #[test]
    fn given_each_accepted_shape_when_loaded_then_lookups_give_the_entry() {
        let shapes = [
            r#"{"services":[{"name":"svc-auth","team":"identity","tier":1,"owner":"alice@example.com"}]}"#,
            r#"[{"name":"svc-auth","team":"identity","tier":1,"owner":"alice@example.com"}]"#,
            r#"{"svc-auth":{"team":"identity","tier":1,"owner":"alice@example.com"}}"#,
        ];
        for shape in shapes {
            let c = Catalog::from_json(shape.as_bytes()).unwrap();
            assert_eq!(c.len(), 1);
            let s = member(&c, "svc-auth").unwrap();
            assert_eq!(s["name"], "svc-auth", "{shape}");
            assert_eq!(s["team"], "identity");
            assert_eq!(s["tier"], 1);
            assert_eq!(s["owner"], "alice@example.com");
            assert_eq!(member(&c, "svc-other"), None);
        }
    }

    #[test]
    fn given_bad_catalogs_when_loaded_then_the_error_says_what_is_wrong() {
        let err = |text: &str| Catalog::from_json(text.as_bytes()).unwrap_err().to_string();
        assert!(err("{").contains("not valid JSON"));
        assert!(err("42").contains("expected"));
        assert!(err(r#"[{"team":"x"}]"#).contains("entry 0: has no \"name\""));
        assert!(err(r#"{"svc":"x"}"#).contains("svc: is not an object"));
        assert!(err(r#"[{"name":"a"},{"name":"a"}]"#).contains("\"a\" is listed twice"));
    }
}
