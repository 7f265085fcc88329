//! An event source mapping's `FilterCriteria`, applied as Lambda applies them
//! to Kinesis records: a record is handed to the function when its `data`,
//! read as JSON, matches at least one filter; the others are dropped before
//! the invocation (and counted as filtered out). Kinesis mappings filter on
//! the `data` key only, and data that is not a JSON object matches no pattern
//! on it.
//!
//! A pattern is an object of fields (all must match); a field holds a nested
//! pattern or a list of matchers (any may match): a value (string, number
//! compared by its text, boolean, null), `{"prefix": ..}`, `{"suffix": ..}`,
//! `{"equals-ignore-case": ..}`, `{"anything-but": value | [values] |
//! {"prefix": ..}}`, `{"numeric": [op, n, (op, n)]}` and `{"exists": bool}`.
//! When the event's field is a list, any of its elements may match.

use serde_json::{Map, Value};

/// Parsed `FilterCriteria`: records matching any filter pass.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterCriteria {
    filters: Vec<Map<String, Value>>,
}

/// Why a pattern cannot be applied.
pub type PatternError = String;

impl FilterCriteria {
    /// Parses the filters' `Pattern` texts.
    pub fn parse(patterns: &[String]) -> Result<Self, PatternError> {
        let filters = patterns
            .iter()
            .map(|text| {
                let value: Value = serde_json::from_str(text).map_err(|e| format!("pattern {text}: not JSON: {e}"))?;
                let Value::Object(pattern) = value else { return Err(format!("pattern {text}: not an object")) };
                check_pattern(&pattern).map_err(|e| format!("pattern {text}: {e}"))?;
                Ok(pattern)
            })
            .collect::<Result<_, PatternError>>()?;
        Ok(Self { filters })
    }

    /// Whether a record with these bytes passes.
    pub fn matches(&self, data: &[u8]) -> bool {
        let data = serde_json::from_slice::<Value>(data).ok().filter(Value::is_object);
        let record = Value::Object(Map::from_iter(data.map(|d| ("data".to_string(), d))));
        self.filters.iter().any(|filter| object_matches(filter, &record))
    }
}

/// Checks that every matcher of a pattern is one this module applies.
fn check_pattern(pattern: &Map<String, Value>) -> Result<(), PatternError> {
    for (field, rule) in pattern {
        match rule {
            Value::Object(nested) => check_pattern(nested)?,
            Value::Array(matchers) => {
                for matcher in matchers {
                    if let Value::Object(m) = matcher {
                        let supported = ["prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"];
                        let name = m.keys().next().map(String::as_str).unwrap_or("");
                        if m.len() != 1 || !supported.contains(&name) {
                            return Err(format!("{field}: matcher {matcher} is not supported locally"));
                        }
                    }
                }
            }
            other => return Err(format!("{field}: {other} is neither a nested pattern nor a list of matchers")),
        }
    }
    Ok(())
}

fn object_matches(pattern: &Map<String, Value>, event: &Value) -> bool {
    pattern.iter().all(|(field, rule)| {
        let value = event.get(field);
        match rule {
            Value::Object(nested) => value.is_some_and(|v| object_matches(nested, v)),
            Value::Array(matchers) => matchers.iter().any(|m| field_matches(m, value)),
            _ => false,
        }
    })
}

/// One matcher against a field's value (absent: `None`); a list value matches through any element.
fn field_matches(matcher: &Value, value: Option<&Value>) -> bool {
    if let Some(exists) = matcher.get("exists").and_then(Value::as_bool) {
        return value.is_some() == exists;
    }
    match value {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|item| value_matches(matcher, item)),
        Some(v) => value_matches(matcher, v),
    }
}

fn value_matches(matcher: &Value, value: &Value) -> bool {
    let Value::Object(m) = matcher else { return equal(matcher, value) };
    let Some((name, arg)) = m.iter().next() else { return false };
    let text = value.as_str();
    match name.as_str() {
        "prefix" => {
            string_test(arg, text, |t, p| t.starts_with(p), |t, p| t.to_lowercase().starts_with(&p.to_lowercase()))
        }
        "suffix" => string_test(arg, text, |t, s| t.ends_with(s), |t, s| t.to_lowercase().ends_with(&s.to_lowercase())),
        "equals-ignore-case" => matches!((arg.as_str(), text), (Some(a), Some(t)) if a.eq_ignore_ascii_case(t)),
        "anything-but" => !anything_but_excludes(arg, value),
        "numeric" => value.as_f64().is_some_and(|n| numeric(arg, n)),
        _ => false,
    }
}

/// A prefix or suffix test; `{"equals-ignore-case": x}` as the argument ignores case.
fn string_test(arg: &Value, text: Option<&str>, exact: fn(&str, &str) -> bool, folded: fn(&str, &str) -> bool) -> bool {
    let Some(text) = text else { return false };
    match arg {
        Value::String(s) => exact(text, s),
        Value::Object(o) => o.get("equals-ignore-case").and_then(Value::as_str).is_some_and(|s| folded(text, s)),
        _ => false,
    }
}

fn anything_but_excludes(arg: &Value, value: &Value) -> bool {
    match arg {
        Value::Array(values) => values.iter().any(|v| equal(v, value)),
        Value::Object(o) => {
            o.get("prefix").and_then(Value::as_str).is_some_and(|p| value.as_str().is_some_and(|t| t.starts_with(p)))
        }
        single => equal(single, value),
    }
}

/// `[op, n]` or `[op, n, op, n]` with `=`, `<`, `<=`, `>`, `>=`.
fn numeric(arg: &Value, n: f64) -> bool {
    let Some(terms) = arg.as_array() else { return false };
    terms.chunks(2).all(|pair| match (pair.first().and_then(Value::as_str), pair.get(1).and_then(Value::as_f64)) {
        (Some("="), Some(x)) => n == x,
        (Some("<"), Some(x)) => n < x,
        (Some("<="), Some(x)) => n <= x,
        (Some(">"), Some(x)) => n > x,
        (Some(">="), Some(x)) => n >= x,
        _ => false,
    })
}

/// Exact match: strings, booleans and null by value, numbers by their text.
fn equal(pattern: &Value, value: &Value) -> bool {
    match (pattern, value) {
        (Value::Number(a), Value::Number(b)) => a.to_string() == b.to_string(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria(patterns: &[&str]) -> FilterCriteria {
        FilterCriteria::parse(&patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap()
    }

    /// The patterns of the filter function in template.yaml.
    const TEMPLATE: [&str; 4] = [
        r#"{"data":{"http":{"status":[{"numeric":["=",401]},{"numeric":["=",403]}]},"kind":["access"]}}"#,
        r#"{"data":{"http":{"status":[{"numeric":[">=",500,"<=",599]}]}}}"#,
        r#"{"data":{"http":{"path":[{"prefix":"/admin"}]}}}"#,
        r#"{"data":{"ip":[{"prefix":"203.0.113."},{"prefix":"198.51.100."},"192.0.2.66"]}}"#,
    ];

    #[test]
    fn given_the_templates_criteria_then_events_pass_by_any_filter() {
        let c = criteria(&TEMPLATE);
        assert!(c.matches(br#"{"kind":"access","http":{"status":401}}"#));
        assert!(!c.matches(br#"{"kind":"metric","http":{"status":401}}"#), "the first filter needs both fields");
        assert!(c.matches(br#"{"http":{"status":503}}"#));
        assert!(!c.matches(br#"{"http":{"status":600,"path":"/home"}}"#));
        assert!(c.matches(br#"{"http":{"status":200,"path":"/admin/users"}}"#));
        assert!(c.matches(br#"{"ip":"198.51.100.7"}"#) && c.matches(br#"{"ip":"192.0.2.66"}"#));
        assert!(!c.matches(br#"{"ip":"192.0.2.67","http":{"status":200}}"#));
        assert!(!c.matches(b"not json") && !c.matches(br#"[{"ip":"192.0.2.66"}]"#), "data must be a JSON object");
    }

    #[test]
    fn operators_match_as_lambda_documents_them() {
        let c = |p: &str, event: &str| criteria(&[p]).matches(event.as_bytes());
        assert!(c(r#"{"data":{"a":[{"suffix":".png"}]}}"#, r#"{"a":"x.png"}"#));
        assert!(c(r#"{"data":{"a":[{"prefix":{"equals-ignore-case":"AB"}}]}}"#, r#"{"a":"abc"}"#));
        assert!(c(r#"{"data":{"a":[{"equals-ignore-case":"YES"}]}}"#, r#"{"a":"yes"}"#));
        assert!(c(r#"{"data":{"a":[{"anything-but":["x","y"]}]}}"#, r#"{"a":"z"}"#));
        assert!(!c(r#"{"data":{"a":[{"anything-but":"x"}]}}"#, r#"{"a":"x"}"#));
        assert!(!c(r#"{"data":{"a":[{"anything-but":{"prefix":"in"}}]}}"#, r#"{"a":"internal"}"#));
        assert!(c(r#"{"data":{"a":[{"exists":false}]}}"#, r#"{"b":1}"#));
        assert!(!c(r#"{"data":{"a":[{"exists":true}]}}"#, r#"{"b":1}"#));
        assert!(c(r#"{"data":{"a":[{"numeric":[">",1,"<",2]}]}}"#, r#"{"a":1.5}"#));
        assert!(!c(r#"{"data":{"a":[{"numeric":[">",1,"<",2]}]}}"#, r#"{"a":"1.5"}"#), "numeric needs a number");
        assert!(c(r#"{"data":{"a":[300]}}"#, r#"{"a":300}"#) && !c(r#"{"data":{"a":[300]}}"#, r#"{"a":300.0}"#));
        assert!(c(r#"{"data":{"a":[true, null]}}"#, r#"{"a":null}"#));
        assert!(c(r#"{"data":{"tags":["red"]}}"#, r#"{"tags":["blue","red"]}"#), "a list matches through any element");
    }

    #[test]
    fn patterns_the_local_mapping_cannot_apply_are_refused_with_the_reason() {
        let err = FilterCriteria::parse(&[r#"{"data":{"ip":[{"cidr":"10.0.0.0/8"}]}}"#.to_string()]).unwrap_err();
        assert!(err.contains("is not supported locally"), "{err}");
        let err = FilterCriteria::parse(&["{not json".to_string()]).unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
        let err = FilterCriteria::parse(&[r#"{"data":{"a":"x"}}"#.to_string()]).unwrap_err();
        assert!(err.contains("neither a nested pattern nor a list"), "{err}");
    }
}
