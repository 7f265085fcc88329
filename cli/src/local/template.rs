//! Reading `template.yaml`: its Parameters, Conditions, Globals and Resources,
//! as written (CloudFormation short-form tags such as `!Ref` and `!GetAtt` kept
//! as tagged YAML values). Evaluating them is [`super::intrinsics`]'s job, and
//! turning the resources into a local stack is [`super::stack`]'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use yaml_serde::{Mapping, Value};

/// Why a template cannot be read or resolved into a local stack.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file cannot be read.
    #[error("cannot read the template {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The text is not YAML, or not a mapping at its top.
    #[error("the template is not valid YAML: {0}")]
    Yaml(String),
    /// A part of the template does not have the expected shape.
    #[error("{at}: {problem}")]
    Shape {
        /// Where (`Resources.RawStream.Properties`, ...).
        at: String,
        /// What is wrong.
        problem: String,
    },
    /// An intrinsic function cannot be evaluated locally.
    #[error("{at}: {problem}")]
    Intrinsic {
        /// Where.
        at: String,
        /// What is wrong.
        problem: String,
    },
    /// A parameter override names no parameter, or breaks its constraints.
    #[error("parameter {name}: {problem}")]
    Parameter {
        /// The parameter.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The template has nothing to run locally.
    #[error("the template has no AWS::Serverless::Function with a Kinesis event: nothing to run")]
    NoFunction,
}

impl TemplateError {
    /// A shape error at `at`.
    pub fn shape(at: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Shape { at: at.into(), problem: problem.into() }
    }
}

/// A template parameter: its default and constraints.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// `Type` (`String`, `Number`, ...).
    pub kind: String,
    /// `Default`, as text.
    pub default: Option<String>,
    /// `AllowedValues`, as text.
    pub allowed: Vec<String>,
    /// `MinValue` (numbers).
    pub min: Option<f64>,
    /// `MaxValue` (numbers).
    pub max: Option<f64>,
}

impl Parameter {
    /// Checks `value` against the parameter's type and constraints.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a == value) {
            return Err(format!("{value:?} is not one of the allowed values {:?}", self.allowed));
        }
        if self.kind == "Number" {
            let n: f64 = value.trim().parse().map_err(|_| format!("{value:?} is not a number"))?;
            if self.min.is_some_and(|min| n < min) || self.max.is_some_and(|max| n > max) {
                return Err(format!("{value} is outside {:?}..={:?}", self.min, self.max));
            }
        }
        Ok(())
    }
}

/// One resource: its type, properties, metadata and condition, unevaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `Type`, e.g. `AWS::Kinesis::Stream`.
    pub kind: String,
    /// `Properties` (an empty mapping when absent).
    pub properties: Mapping,
    /// `Metadata` (an empty mapping when absent).
    pub metadata: Mapping,
    /// `Condition`: the resource exists only when this condition holds.
    pub condition: Option<String>,
}

/// A SAM/CloudFormation template as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The folder the template is in (`CodeUri` and `ContentUri` are relative to it).
    pub dir: PathBuf,
    /// Parameters by name.
    pub parameters: BTreeMap<String, Parameter>,
    /// Conditions by name, unevaluated.
    pub conditions: BTreeMap<String, Value>,
    /// `Globals.Function` (an empty mapping when absent).
    pub function_globals: Mapping,
    /// Resources by logical id.
    pub resources: BTreeMap<String, Resource>,
}

impl Template {
    /// Reads and parses the template at `path`.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, dir)
    }

    /// Parses a template's text; `dir` is the folder relative paths start from.
    pub fn parse(text: &str, dir: PathBuf) -> Result<Self, TemplateError> {
        let root: Value = yaml_serde::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        let root = root.as_mapping().ok_or_else(|| TemplateError::Yaml("the top level is not a mapping".into()))?;
        let resources = section(root, "Resources")?
            .iter()
            .map(|(id, body)| Ok((key_text(id, "Resources")?, resource(id, body)?)))
            .collect::<Result<_, TemplateError>>()?;
        let parameters = section(root, "Parameters")?
            .iter()
            .map(|(name, body)| Ok((key_text(name, "Parameters")?, parameter(name, body)?)))
            .collect::<Result<_, TemplateError>>()?;
        let conditions = section(root, "Conditions")?
            .iter()
            .map(|(name, body)| Ok((key_text(name, "Conditions")?, body.clone())))
            .collect::<Result<_, TemplateError>>()?;
        let function_globals = match root.get("Globals").and_then(|g| g.get("Function")) {
            None => Mapping::new(),
            Some(Value::Mapping(m)) => m.clone(),
            Some(_) => return Err(TemplateError::shape("Globals.Function", "not a mapping")),
        };
        Ok(Self { dir, parameters, conditions, function_globals, resources })
    }

    /// The resources of type `kind`, by logical id.
    pub fn resources_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Resource)> + 'a {
        self.resources.iter().filter(move |(_, r)| r.kind == kind).map(|(id, r)| (id.as_str(), r))
    }
}

/// A top-level section as a mapping (empty when absent).
fn section<'a>(root: &'a Mapping, name: &str) -> Result<&'a Mapping, TemplateError> {
    static EMPTY: std::sync::OnceLock<Mapping> = std::sync::OnceLock::new();
    match root.get(name) {
        None | Some(Value::Null) => Ok(EMPTY.get_or_init(Mapping::new)),
        Some(Value::Mapping(m)) => Ok(m),
        Some(_) => Err(TemplateError::shape(name, "not a mapping")),
    }
}

fn key_text(key: &Value, at: &str) -> Result<String, TemplateError> {
    key.as_str().map(str::to_string).ok_or_else(|| TemplateError::shape(at, format!("key {key:?} is not a string")))
}

fn resource(id: &Value, body: &Value) -> Result<Resource, TemplateError> {
    let at = format!("Resources.{}", id.as_str().unwrap_or("?"));
    let kind =
        body.get("Type").and_then(Value::as_str).ok_or_else(|| TemplateError::shape(&at, "no Type"))?.to_string();
    let mapping = |name: &str| match body.get(name) {
        None | Some(Value::Null) => Ok(Mapping::new()),
        Some(Value::Mapping(m)) => Ok(m.clone()),
        Some(_) => Err(TemplateError::shape(format!("{at}.{name}"), "not a mapping")),
    };
    let condition = body.get("Condition").and_then(Value::as_str).map(str::to_string);
    Ok(Resource { kind, properties: mapping("Properties")?, metadata: mapping("Metadata")?, condition })
}

fn parameter(name: &Value, body: &Value) -> Result<Parameter, TemplateError> {
    let at = format!("Parameters.{}", name.as_str().unwrap_or("?"));
    let number = |field: &str| -> Result<Option<f64>, TemplateError> {
        match body.get(field) {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .and_then(|t| t.trim().parse().ok())
                .map(Some)
                .ok_or_else(|| TemplateError::shape(format!("{at}.{field}"), "not a number")),
        }
    };
    let allowed = match body.get("AllowedValues") {
        None => Vec::new(),
        Some(Value::Sequence(values)) => values.iter().filter_map(scalar_text).collect(),
        Some(_) => return Err(TemplateError::shape(format!("{at}.AllowedValues"), "not a list")),
    };
    Ok(Parameter {
        kind: body.get("Type").and_then(Value::as_str).unwrap_or("String").to_string(),
        default: body.get("Default").and_then(scalar_text),
        allowed,
        min: number("MinValue")?,
        max: number("MaxValue")?,
    })
}

/// The text of a scalar (string, number or boolean), as CloudFormation passes parameter values.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
Parameters:
  Size:
    Type: Number
    Default: 10
    MinValue: 1
    MaxValue: 100
  Mode:
    Type: String
    Default: A
    AllowedValues: [A, B]
Conditions:
  IsB: !Equals [!Ref Mode, B]
Globals:
  Function:
    Timeout: 7
Resources:
  RawStream:
    Type: AWS::Kinesis::Stream
    Properties:
      ShardCount: !Ref Size
  Topic:
    Type: AWS::SNS::Topic
    Condition: IsB
"#;

    #[test]
    fn given_a_template_when_parsed_then_sections_keep_their_tags_unevaluated() {
        let t = Template::parse(SMALL, PathBuf::from("/x")).unwrap();
        assert_eq!(t.parameters["Size"].default.as_deref(), Some("10"));
        assert_eq!(t.parameters["Mode"].allowed, ["A", "B"]);
        let shards = t.resources["RawStream"].properties.get("ShardCount").unwrap();
        let Value::Tagged(tagged) = shards else { panic!("{shards:?}") };
        assert_eq!(tagged.tag, "Ref");
        assert_eq!(t.resources["Topic"].condition.as_deref(), Some("IsB"));
        assert_eq!(t.function_globals.get("Timeout").and_then(scalar_text).as_deref(), Some("7"));
        assert_eq!(t.resources_of("AWS::Kinesis::Stream").map(|(id, _)| id).collect::<Vec<_>>(), ["RawStream"]);
    }

    #[test]
    fn given_parameter_constraints_when_checked_then_bad_values_say_why() {
        let t = Template::parse(SMALL, PathBuf::new()).unwrap();
        assert!(t.parameters["Size"].check("50").is_ok());
        assert!(t.parameters["Size"].check("0").unwrap_err().contains("outside"));
        assert!(t.parameters["Size"].check("many").unwrap_err().contains("not a number"));
        assert!(t.parameters["Mode"].check("C").unwrap_err().contains("allowed values"));
    }

    #[test]
    fn given_bad_templates_when_parsed_then_the_error_says_where() {
        let err = Template::parse("Resources: [1, 2]", PathBuf::new()).unwrap_err();
        assert_eq!(err.to_string(), "Resources: not a mapping");
        let err = Template::parse("Resources:\n  X:\n    Properties: {}\n", PathBuf::new()).unwrap_err();
        assert_eq!(err.to_string(), "Resources.X: no Type");
        let err = Template::parse(": : :\n\t- x", PathBuf::new()).unwrap_err();
        assert!(err.to_string().starts_with("the template is not valid YAML"), "{err}");
        let err = Template::load(Path::new("/nonexistent/template.yaml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/template.yaml"), "{err}");
    }
}
