//! Evaluating CloudFormation intrinsic functions for a local stack: `Ref`,
//! `Fn::GetAtt`, `Fn::Sub`, `Fn::If` with the conditions (`Fn::Equals`,
//! `Fn::Not`, `Fn::And`, `Fn::Or`, `Condition`), `Fn::Join`, `Fn::Select`
//! and `Fn::Split`, in their short (`!Ref X`) and long (`{"Ref": "X"}`)
//! forms. `Ref` of a parameter gives its value (default or override), of a
//! resource its local physical name (a queue's URL, a layer's ARN); `GetAtt`
//! gives ARNs built from the local names, region and account. `AWS::NoValue`
//! removes the value it stands for, as CloudFormation does.

use std::collections::BTreeMap;

use serde_json::Value as Json;
use yaml_serde::Value;

use super::template::{Template, TemplateError};

/// Deepest nesting of intrinsic functions and conditions evaluated (guards against cycles).
const MAX_DEPTH: usize = 64;

/// A resource's local identity: its type and physical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Physical {
    /// The resource type.
    pub kind: String,
    /// The local physical name.
    pub name: String,
}

/// What the intrinsics resolve against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// `AWS::StackName`.
    pub stack_name: String,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account: String,
    /// Parameter values (defaults, overridden).
    pub parameters: BTreeMap<String, String>,
    /// Resources by logical id.
    pub resources: BTreeMap<String, Physical>,
}

impl Context {
    /// The ARN of a resource of type `kind` named `name`.
    pub fn arn(&self, kind: &str, name: &str) -> String {
        let (region, account) = (&self.region, &self.account);
        match kind {
            "AWS::Kinesis::Stream" => format!("arn:aws:kinesis:{region}:{account}:stream/{name}"),
            "AWS::S3::Bucket" => format!("arn:aws:s3:::{name}"),
            "AWS::SQS::Queue" => format!("arn:aws:sqs:{region}:{account}:{name}"),
            "AWS::SNS::Topic" => format!("arn:aws:sns:{region}:{account}:{name}"),
            "AWS::KinesisFirehose::DeliveryStream" => {
                format!("arn:aws:firehose:{region}:{account}:deliverystream/{name}")
            }
            "AWS::DynamoDB::Table" => format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
            "AWS::IAM::Role" => format!("arn:aws:iam::{account}:role/{name}"),
            "AWS::KMS::Key" => format!("arn:aws:kms:{region}:{account}:key/{name}"),
            "AWS::Logs::LogGroup" => format!("arn:aws:logs:{region}:{account}:log-group:{name}:*"),
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                format!("arn:aws:lambda:{region}:{account}:function:{name}")
            }
            "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => {
                format!("arn:aws:lambda:{region}:{account}:layer:{name}:1")
            }
            other => {
                let service = other.split("::").nth(1).unwrap_or("unknown").to_ascii_lowercase();
                format!("arn:aws:{service}:{region}:{account}:{name}")
            }
        }
    }

    /// What `Ref` of a resource gives (CloudFormation's return value for its type).
    fn resource_ref(&self, physical: &Physical) -> String {
        match physical.kind.as_str() {
            "AWS::SQS::Queue" => self.queue_url(&physical.name),
            "AWS::SNS::Topic" | "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => {
                self.arn(&physical.kind, &physical.name)
            }
            _ => physical.name.clone(),
        }
    }

    fn queue_url(&self, name: &str) -> String {
        format!("https://sqs.{}.amazonaws.com/{}/{name}", self.region, self.account)
    }

    fn pseudo(&self, name: &str) -> Option<Option<Json>> {
        let text = |s: &str| Some(Some(Json::String(s.to_string())));
        match name {
            "AWS::NoValue" => Some(None),
            "AWS::Region" => text(&self.region),
            "AWS::AccountId" => text(&self.account),
            "AWS::StackName" => text(&self.stack_name),
            "AWS::StackId" => text(&format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/local",
                self.region, self.account, self.stack_name
            )),
            "AWS::Partition" => text("aws"),
            "AWS::URLSuffix" => text("amazonaws.com"),
            _ => None,
        }
    }
}

/// Evaluates template values against a [`Context`].
#[derive(Debug, Clone, Copy)]
pub struct Resolver<'a> {
    template: &'a Template,
    ctx: &'a Context,
}

impl<'a> Resolver<'a> {
    /// A resolver for `template` in `ctx`.
    pub fn new(template: &'a Template, ctx: &'a Context) -> Self {
        Self { template, ctx }
    }

    /// The context.
    pub fn context(&self) -> &'a Context {
        self.ctx
    }

    /// Evaluates `value` (found at `at`, for errors) to JSON; `None` is `AWS::NoValue`.
    pub fn eval(&self, value: &Value, at: &str) -> Result<Option<Json>, TemplateError> {
        self.eval_depth(value, at, 0)
    }

    /// Evaluates `value`, which must not be `AWS::NoValue`.
    pub fn eval_some(&self, value: &Value, at: &str) -> Result<Json, TemplateError> {
        self.eval(value, at)?.ok_or_else(|| intrinsic(at, "AWS::NoValue where a value is needed"))
    }

    /// Whether the named condition holds.
    pub fn condition(&self, name: &str, at: &str) -> Result<bool, TemplateError> {
        self.condition_depth(name, at, 0)
    }

    fn condition_depth(&self, name: &str, at: &str, depth: usize) -> Result<bool, TemplateError> {
        let body =
            self.template.conditions.get(name).ok_or_else(|| intrinsic(at, format!("no condition named {name}")))?;
        let value = self.eval_depth(body, &format!("Conditions.{name}"), depth + 1)?;
        value
            .as_ref()
            .and_then(Json::as_bool)
            .ok_or_else(|| intrinsic(at, format!("condition {name} is not a boolean")))
    }

    fn eval_depth(&self, value: &Value, at: &str, depth: usize) -> Result<Option<Json>, TemplateError> {
        if depth > MAX_DEPTH {
            return Err(intrinsic(at, "intrinsic functions nested too deep (a cycle?)"));
        }
        Ok(Some(match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => number(n),
            Value::String(s) => Json::String(s.clone()),
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.extend(self.eval_depth(item, &format!("{at}[{i}]"), depth + 1)?);
                }
                Json::Array(out)
            }
            Value::Mapping(map) => {
                if let (1, Some((Value::String(key), arg))) = (map.len(), map.iter().next()) {
                    if let Some(function) = long_form(key) {
                        return self.call(function, arg, at, depth);
                    }
                }
                let mut out = serde_json::Map::new();
                for (key, item) in map {
                    let key = super::template::scalar_text(key)
                        .ok_or_else(|| TemplateError::shape(at, format!("key {key:?} is not a string")))?;
                    if let Some(v) = self.eval_depth(item, &format!("{at}.{key}"), depth + 1)? {
                        out.insert(key, v);
                    }
                }
                Json::Object(out)
            }
            Value::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let function = tag.trim_start_matches('!');
                return self.call(function, &tagged.value, at, depth);
            }
        }))
    }

    /// Calls the intrinsic `function` (short name: `Ref`, `GetAtt`, `Sub`, ...) on `arg`.
    fn call(&self, function: &str, arg: &Value, at: &str, depth: usize) -> Result<Option<Json>, TemplateError> {
        let at = &format!("{at} (!{function})");
        let depth = depth + 1;
        match function {
            "Ref" => self.reference(text_arg(arg, at)?, at),
            "GetAtt" => {
                let (logical, attribute) = get_att_arg(arg, at)?;
                self.get_att(&logical, &attribute, at).map(|s| Some(Json::String(s)))
            }
            "Sub" => self.sub(arg, at, depth).map(|s| Some(Json::String(s))),
            "If" => {
                let [cond, yes, no] = list_arg::<3>(arg, at)?;
                let cond = cond.as_str().ok_or_else(|| intrinsic(at, "the condition name is not a string"))?;
                let branch = if self.condition_depth(cond, at, depth)? { yes } else { no };
                self.eval_depth(branch, at, depth)
            }
            "Equals" => {
                let [a, b] = list_arg::<2>(arg, at)?;
                let (a, b) = (self.eval_depth(a, at, depth)?, self.eval_depth(b, at, depth)?);
                Ok(Some(Json::Bool(scalar_string(a.as_ref()) == scalar_string(b.as_ref()))))
            }
            "Not" => {
                let [inner] = list_arg::<1>(arg, at)?;
                Ok(Some(Json::Bool(!self.boolean(inner, at, depth)?)))
            }
            "And" | "Or" => {
                let items = arg.as_sequence().ok_or_else(|| intrinsic(at, "expects a list of conditions"))?;
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.boolean(item, at, depth)?);
                }
                let all = function == "And";
                Ok(Some(Json::Bool(if all { values.iter().all(|v| *v) } else { values.iter().any(|v| *v) })))
            }
            "Condition" => self.condition_depth(text_arg(arg, at)?, at, depth).map(|b| Some(Json::Bool(b))),
            "Join" => {
                let [delimiter, items] = list_arg::<2>(arg, at)?;
                let delimiter = delimiter.as_str().unwrap_or_default();
                let items = self.eval_depth(items, at, depth)?.unwrap_or(Json::Array(Vec::new()));
                let parts = items.as_array().ok_or_else(|| intrinsic(at, "expects a list to join"))?;
                let texts: Vec<String> = parts.iter().map(|p| scalar_string(Some(p))).collect();
                Ok(Some(Json::String(texts.join(delimiter))))
            }
            "Select" => {
                let [index, items] = list_arg::<2>(arg, at)?;
                let index = scalar_string(self.eval_depth(index, at, depth)?.as_ref());
                let index: usize =
                    index.parse().map_err(|_| intrinsic(at, format!("index {index:?} is not a number")))?;
                let items = self.eval_depth(items, at, depth)?.unwrap_or(Json::Null);
                let item = items.as_array().and_then(|a| a.get(index)).cloned();
                item.map(Some).ok_or_else(|| intrinsic(at, format!("no item {index}")))
            }
            "Split" => {
                let [delimiter, text] = list_arg::<2>(arg, at)?;
                let delimiter = delimiter.as_str().ok_or_else(|| intrinsic(at, "the delimiter is not a string"))?;
                let text = scalar_string(self.eval_depth(text, at, depth)?.as_ref());
                Ok(Some(Json::Array(text.split(delimiter).map(|s| Json::String(s.to_string())).collect())))
            }
            other => Err(intrinsic(at, format!("Fn::{other} is not supported by the local stack"))),
        }
    }

    fn boolean(&self, value: &Value, at: &str, depth: usize) -> Result<bool, TemplateError> {
        self.eval_depth(value, at, depth)?
            .as_ref()
            .and_then(Json::as_bool)
            .ok_or_else(|| intrinsic(at, "expects a condition (true or false)"))
    }

    /// `Ref name`: a pseudo parameter, a parameter or a resource.
    fn reference(&self, name: &str, at: &str) -> Result<Option<Json>, TemplateError> {
        if let Some(value) = self.ctx.pseudo(name) {
            return Ok(value);
        }
        if let Some(value) = self.ctx.parameters.get(name) {
            return Ok(Some(Json::String(value.clone())));
        }
        match self.ctx.resources.get(name) {
            Some(physical) => Ok(Some(Json::String(self.ctx.resource_ref(physical)))),
            None => Err(intrinsic(at, format!("Ref {name}: no parameter or resource of that name"))),
        }
    }

    /// `Fn::GetAtt logical.attribute`.
    pub fn get_att(&self, logical: &str, attribute: &str, at: &str) -> Result<String, TemplateError> {
        let physical = self
            .ctx
            .resources
            .get(logical)
            .ok_or_else(|| intrinsic(at, format!("GetAtt {logical}.{attribute}: no resource {logical}")))?;
        let (kind, name) = (physical.kind.as_str(), physical.name.as_str());
        match (kind, attribute) {
            (_, "Arn") => Ok(self.ctx.arn(kind, name)),
            ("AWS::SQS::Queue", "QueueName") | ("AWS::SNS::Topic", "TopicName") => Ok(name.to_string()),
            ("AWS::SQS::Queue", "QueueUrl") => Ok(self.ctx.queue_url(name)),
            ("AWS::SNS::Topic", "TopicArn") => Ok(self.ctx.arn(kind, name)),
            ("AWS::DynamoDB::Table", "StreamArn") => Ok(format!("{}/stream/local", self.ctx.arn(kind, name))),
            ("AWS::IAM::Role", "RoleId") | ("AWS::KMS::Key", "KeyId") => Ok(name.to_string()),
            _ => Err(intrinsic(at, format!("GetAtt {logical}.{attribute}: attribute not supported for {kind}"))),
        }
    }

    /// `Fn::Sub`: `${Name}`, `${Logical.Attribute}` and `${!Literal}` in a string,
    /// with optional variables (`[text, {Var: value}]`).
    fn sub(&self, arg: &Value, at: &str, depth: usize) -> Result<String, TemplateError> {
        let (text, vars) = match arg {
            Value::Sequence(items) if items.len() == 2 => {
                let text =
                    items[0].as_str().ok_or_else(|| intrinsic(at, "the string to substitute is not a string"))?;
                let vars = self.eval_depth(&items[1], at, depth)?.unwrap_or(Json::Null);
                (text, vars)
            }
            other => (other.as_str().ok_or_else(|| intrinsic(at, "expects a string"))?, Json::Null),
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| intrinsic(at, format!("unclosed ${{ in {text:?}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                out.push_str(&self.sub_variable(name, &vars, at)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn sub_variable(&self, name: &str, vars: &Json, at: &str) -> Result<String, TemplateError> {
        if let Some(value) = vars.get(name) {
            return Ok(scalar_string(Some(value)));
        }
        if let Some((logical, attribute)) = name.split_once('.') {
            if self.ctx.resources.contains_key(logical) {
                return self.get_att(logical, attribute, at);
            }
        }
        match self.reference(name, at)? {
            Some(value) => Ok(scalar_string(Some(&value))),
            None => Err(intrinsic(at, format!("${{{name}}} is AWS::NoValue"))),
        }
    }
}

/// The short name of a long-form intrinsic key (`Fn::GetAtt` -> `GetAtt`, `Ref` -> `Ref`).
fn long_form(key: &str) -> Option<&str> {
    if key == "Ref" || key == "Condition" {
        return Some(key);
    }
    key.strip_prefix("Fn::")
}

fn intrinsic(at: &str, problem: impl Into<String>) -> TemplateError {
    TemplateError::Intrinsic { at: at.to_string(), problem: problem.into() }
}

fn number(n: &yaml_serde::Number) -> Json {
    if let Some(i) = n.as_i64() {
        Json::from(i)
    } else if let Some(u) = n.as_u64() {
        Json::from(u)
    } else {
        n.as_f64().and_then(serde_json::Number::from_f64).map(Json::Number).unwrap_or(Json::Null)
    }
}

/// A scalar's text as CloudFormation compares and joins them (`1` and `"1"` are equal).
pub fn scalar_string(value: Option<&Json>) -> String {
    match value {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn text_arg<'v>(arg: &'v Value, at: &str) -> Result<&'v str, TemplateError> {
    arg.as_str().ok_or_else(|| intrinsic(at, "expects a name"))
}

fn list_arg<'v, const N: usize>(arg: &'v Value, at: &str) -> Result<[&'v Value; N], TemplateError> {
    let items = arg.as_sequence().ok_or_else(|| intrinsic(at, format!("expects a list of {N}")))?;
    let refs: Vec<&Value> = items.iter().collect();
    refs.try_into().map_err(|_| intrinsic(at, format!("expects a list of {N}, got {}", items.len())))
}

fn get_att_arg(arg: &Value, at: &str) -> Result<(String, String), TemplateError> {
    match arg {
        Value::String(s) => s
            .split_once('.')
            .map(|(l, a)| (l.to_string(), a.to_string()))
            .ok_or_else(|| intrinsic(at, format!("{s:?} is not Logical.Attribute"))),
        Value::Sequence(items) if items.len() == 2 => match (items[0].as_str(), items[1].as_str()) {
            (Some(l), Some(a)) => Ok((l.to_string(), a.to_string())),
            _ => Err(intrinsic(at, "expects [Logical, Attribute]")),
        },
        _ => Err(intrinsic(at, "expects Logical.Attribute")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const TEMPLATE: &str = r#"
Parameters:
  Mode: {Type: String, Default: PROVISIONED}
  Size: {Type: Number, Default: 2}
  Key: {Type: String, Default: ""}
Conditions:
  OnDemand: !Equals [!Ref Mode, ON_DEMAND]
  HasKey: !Not [!Equals [!Ref Key, ""]]
  Both: !And [!Condition HasKey, {"Fn::Not": [{"Condition": "OnDemand"}]}]
Resources:
  RawStream: {Type: AWS::Kinesis::Stream}
  DataBucket: {Type: AWS::S3::Bucket}
  FailureQueue: {Type: AWS::SQS::Queue}
"#;

    fn setup(params: &[(&str, &str)]) -> (Template, Context) {
        let template = Template::parse(TEMPLATE, PathBuf::new()).unwrap();
        let mut parameters: BTreeMap<String, String> =
            template.parameters.iter().map(|(k, p)| (k.clone(), p.default.clone().unwrap_or_default())).collect();
        for (k, v) in params {
            parameters.insert(k.to_string(), v.to_string());
        }
        let resources = template
            .resources
            .iter()
            .map(|(id, r)| (id.clone(), Physical { kind: r.kind.clone(), name: format!("t-{}", id.to_lowercase()) }))
            .collect();
        let ctx = Context {
            stack_name: "t".into(),
            region: "eu-west-1".into(),
            account: "000000000000".into(),
            parameters,
            resources,
        };
        (template, ctx)
    }

    fn eval(yaml: &str, params: &[(&str, &str)]) -> Result<Option<Json>, TemplateError> {
        let (template, ctx) = setup(params);
        let value: Value = yaml_serde::from_str(yaml).unwrap();
        Resolver::new(&template, &ctx).eval(&value, "test")
    }

    #[test]
    fn given_refs_and_get_atts_when_evaluated_then_they_give_local_names_and_arns() {
        assert_eq!(eval("!Ref Size", &[]).unwrap(), Some(Json::from("2")));
        assert_eq!(eval("!Ref RawStream", &[]).unwrap(), Some(Json::from("t-rawstream")));
        assert_eq!(
            eval("!GetAtt RawStream.Arn", &[]).unwrap(),
            Some(Json::from("arn:aws:kinesis:eu-west-1:000000000000:stream/t-rawstream"))
        );
        assert_eq!(
            eval("{'Fn::GetAtt': [DataBucket, Arn]}", &[]).unwrap(),
            Some(Json::from("arn:aws:s3:::t-databucket"))
        );
        assert_eq!(eval("!GetAtt FailureQueue.QueueName", &[]).unwrap(), Some(Json::from("t-failurequeue")));
        assert_eq!(
            eval("!Ref FailureQueue", &[]).unwrap(),
            Some(Json::from("https://sqs.eu-west-1.amazonaws.com/000000000000/t-failurequeue"))
        );
        assert_eq!(eval("!Ref AWS::NoValue", &[]).unwrap(), None);
    }

    #[test]
    fn given_conditions_when_evaluated_then_if_picks_the_branch_and_no_value_disappears() {
        let yaml = "{a: !If [OnDemand, !Ref AWS::NoValue, !Ref Size], b: [1, !If [HasKey, x, !Ref AWS::NoValue]]}";
        assert_eq!(eval(yaml, &[]).unwrap(), Some(serde_json::json!({"a": "2", "b": [1]})));
        assert_eq!(
            eval(yaml, &[("Mode", "ON_DEMAND"), ("Key", "k")]).unwrap(),
            Some(serde_json::json!({"b": [1, "x"]}))
        );
        assert_eq!(eval("!If [Both, yes, no]", &[("Key", "k")]).unwrap(), Some(Json::from("yes")));
        assert_eq!(
            eval("!If [Both, yes, no]", &[("Key", "k"), ("Mode", "ON_DEMAND")]).unwrap(),
            Some(Json::from("no"))
        );
    }

    #[test]
    fn given_sub_join_select_split_when_evaluated_then_strings_are_built() {
        let yaml = "!Sub '${DataBucket.Arn}/quarantine/* ${AWS::StackName}-${Size} ${!Literal}'";
        assert_eq!(eval(yaml, &[]).unwrap(), Some(Json::from("arn:aws:s3:::t-databucket/quarantine/* t-2 ${Literal}")));
        let yaml = "!Sub ['s3://${B}/${Key}', {B: !Ref DataBucket}]";
        assert_eq!(
            eval(yaml, &[("Key", "lookups/geo.mmdb")]).unwrap(),
            Some(Json::from("s3://t-databucket/lookups/geo.mmdb"))
        );
        assert_eq!(eval("!Join [',', [a, !Ref Size]]", &[]).unwrap(), Some(Json::from("a,2")));
        assert_eq!(eval("!Select [1, !Split [',', 'x,y,z']]", &[]).unwrap(), Some(Json::from("y")));
    }

    #[test]
    fn given_what_cannot_be_evaluated_when_evaluated_then_the_error_says_where_and_why() {
        let err = eval("{x: !Ref Nope}", &[]).unwrap_err().to_string();
        assert!(err.contains("test.x (!Ref)") && err.contains("Nope"), "{err}");
        let err = eval("!FindInMap [a, b, c]", &[]).unwrap_err().to_string();
        assert!(err.contains("Fn::FindInMap is not supported"), "{err}");
        let err = eval("!GetAtt DataBucket.DomainName", &[]).unwrap_err().to_string();
        assert!(err.contains("not supported for AWS::S3::Bucket"), "{err}");
        let err = eval("!If [Missing, a, b]", &[]).unwrap_err().to_string();
        assert!(err.contains("no condition named Missing"), "{err}");
        let err = eval("!Sub 'x ${Open'", &[]).unwrap_err().to_string();
        assert!(err.contains("unclosed"), "{err}");
    }
}
