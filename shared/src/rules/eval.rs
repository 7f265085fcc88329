//! Evaluating compiled conditions over the extracted fields of one event.
//!
//! Semantics (rules/README.md):
//! - `eq`, `in`, `prefix`, `regex`, `cidr` and the numeric tests hold when the
//!   value at the path satisfies them; for an array, when any element does.
//!   They never hold for an absent field, an object, or a value of another
//!   type (`eq: 500` does not match the string `"500"`).
//! - `ne` holds when the field holds a scalar (string, number, boolean, null)
//!   that differs from the value; it does not hold for an absent field, an
//!   array or an object (write `not: {field: f, eq: x}` to include those).
//! - `exists: true` holds when the path holds a value that is not an object
//!   (null counts); `exists: false` is its negation.

use std::net::IpAddr;

use super::compile::{Cond, Leaf, Scalar, Test};
use super::fields::{Fields, Val};

impl Cond {
    /// Whether the condition holds for `fields`.
    pub(crate) fn eval(&self, fields: &Fields<'_>) -> bool {
        match self {
            Cond::All(cs) => cs.iter().all(|c| c.eval(fields)),
            Cond::Any(cs) => cs.iter().any(|c| c.eval(fields)),
            Cond::Not(c) => !c.eval(fields),
            Cond::Leaf(leaf) => leaf.eval(fields.get(leaf.slot)),
        }
    }
}

impl Leaf {
    fn eval(&self, value: Option<&Val<'_>>) -> bool {
        match (&self.test, value) {
            (Test::Exists(want), v) => *want == matches!(v, Some(v) if !matches!(v, Val::Object)),
            (_, None) => false,
            (Test::Ne(x), Some(v)) => match v {
                Val::Array(_) | Val::Object => false,
                scalar => !equals(scalar, x),
            },
            (test, Some(v)) => any_element(v, &|s| scalar_test(test, s)),
        }
    }
}

/// `f` on a scalar, or on each element of an array until one holds.
fn any_element(v: &Val<'_>, f: &dyn Fn(&Val<'_>) -> bool) -> bool {
    match v {
        Val::Array(items) => items.iter().any(|item| any_element(item, f)),
        Val::Object => false,
        scalar => f(scalar),
    }
}

fn scalar_test(test: &Test, v: &Val<'_>) -> bool {
    match test {
        Test::Eq(x) => equals(v, x),
        Test::In(xs) => xs.iter().any(|x| equals(v, x)),
        Test::Prefix(p) => matches!(v, Val::Str(s) if s.starts_with(p.as_str())),
        Test::Regex(re) => matches!(v, Val::Str(s) if re.is_match(s)),
        Test::Cidr(nets) => match v {
            Val::Str(s) => s.parse::<IpAddr>().is_ok_and(|ip| nets.iter().any(|n| n.contains(&ip))),
            _ => false,
        },
        Test::Range(r) => matches!(v, Val::Num(n) if r.contains(*n)),
        Test::Ne(_) | Test::Exists(_) => false,
    }
}

/// JSON equality of a scalar value and a rule's scalar (numbers by value).
fn equals(v: &Val<'_>, x: &Scalar) -> bool {
    match (v, x) {
        (Val::Null, Scalar::Null) => true,
        (Val::Bool(a), Scalar::Bool(b)) => a == b,
        (Val::Num(a), Scalar::Num(b)) => a == b,
        (Val::Str(a), Scalar::Str(b)) => a == b,
        _ => false,
    }
}
