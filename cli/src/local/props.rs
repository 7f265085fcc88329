//! Typed reads of a resource's resolved properties (JSON), with the place in
//! the template for errors.

use serde_json::Value as Json;

use super::intrinsics::scalar_string;
use super::template::TemplateError;

/// Typed reads of resolved properties, with the location for errors.
pub struct Props<'a> {
    pub json: &'a Json,
    pub at: String,
}

impl Props<'_> {
    pub fn path(&self, keys: &[&str]) -> Option<&Json> {
        keys.iter().try_fold(self.json, |v, k| v.get(k)).filter(|v| !v.is_null())
    }

    pub fn text(&self, key: &str) -> Option<String> {
        self.path(&[key]).map(|v| scalar_string(Some(v)))
    }

    pub fn i64_at(&self, keys: &[&str]) -> Result<Option<i64>, TemplateError> {
        let Some(value) = self.path(keys) else { return Ok(None) };
        let text = scalar_string(Some(value));
        text.trim().parse::<i64>().map(Some).map_err(|_| {
            TemplateError::shape(format!("{}.{}", self.at, keys.join(".")), format!("{text:?} is not a whole number"))
        })
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>, TemplateError> {
        self.i64_at(&[key])
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>, TemplateError> {
        match self.i64(key)? {
            Some(n) if n < 0 => Err(self.error(key, format!("{n} is negative"))),
            n => Ok(n.map(|n| n as u64)),
        }
    }

    pub fn in_range(
        &self,
        key: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, TemplateError> {
        let n = self.i64(key)?.unwrap_or(default);
        if range.contains(&n) {
            Ok(n)
        } else {
            Err(self.error(key, format!("{n} is outside {}..={}", range.start(), range.end())))
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool, TemplateError> {
        match self.path(&[key]) {
            None => Ok(false),
            Some(Json::Bool(b)) => Ok(*b),
            Some(Json::String(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                Ok(s.eq_ignore_ascii_case("true"))
            }
            Some(other) => Err(self.error(key, format!("{other} is not true or false"))),
        }
    }

    pub fn error(&self, key: &str, problem: String) -> TemplateError {
        TemplateError::shape(format!("{}.{key}", self.at), problem)
    }
}

/// The name at the end of an ARN's resource part (`...:stream/raw` -> `raw`, `arn:aws:s3:::b` -> `b`).
pub fn arn_name(arn: &str) -> &str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    resource.split('/').nth(1).unwrap_or(resource)
}
