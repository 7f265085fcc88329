// A comparable model of a template: what must be the same whether the stack is
// deployed with SAM (template.yaml) or CDK (this app). SAM's shorthand (Globals,
// AWS::Serverless::* types, Kinesis events inside functions) is expanded to what
// CloudFormation gets; values are canonicalised (key order, numbers as strings,
// FilterCriteria patterns parsed).
import { Resource, Template } from "./templates";

/** The model of one function: its properties, its Kinesis mapping, its IAM grants. */
export interface FunctionModel {
  binary: string | undefined;
  properties: unknown;
  mapping: unknown;
  /** `action on resource`, one per pair, sorted. */
  grants: string[];
}

/** Everything the two templates must agree on. */
export interface StackModel {
  parameters: unknown;
  conditions: unknown;
  functions: Record<string, FunctionModel>;
  /** Every other resource by logical ID: type, properties, condition, policies. */
  resources: Record<string, unknown>;
  outputs: unknown;
}

/** Sorted keys, scalars as strings, `Fn::GetAtt: "A.B"` as `["A", "B"]`. */
export function canon(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canon);
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (typeof obj["Fn::GetAtt"] === "string") return { "Fn::GetAtt": (obj["Fn::GetAtt"] as string).split(".") };
    return Object.fromEntries(
      Object.keys(obj)
        .sort()
        .map((k) => [k, canon(obj[k])]),
    );
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return value;
}

const FUNCTION_PROPS = [
  "Architectures",
  "Description",
  "Environment",
  "Handler",
  "KmsKeyArn",
  "Layers",
  "LoggingConfig",
  "MemorySize",
  "Role",
  "Runtime",
  "Timeout",
];
const MAPPING_PROPS = [
  "BatchSize",
  "BisectBatchOnFunctionError",
  "DestinationConfig",
  "EventSourceArn",
  "FilterCriteria",
  "FunctionResponseTypes",
  "MaximumBatchingWindowInSeconds",
  "MaximumRecordAgeInSeconds",
  "MaximumRetryAttempts",
  "ParallelizationFactor",
  "StartingPosition",
  "TumblingWindowInSeconds",
];

function pick(obj: Record<string, unknown> | undefined, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => obj?.[k] !== undefined).map((k) => [k, obj![k]]));
}

function mappingModel(props: Record<string, unknown>): unknown {
  const picked = pick(props, MAPPING_PROPS);
  const criteria = picked.FilterCriteria as { Filters: Array<{ Pattern: string }> } | undefined;
  if (criteria) {
    // the same pattern whatever its white space or key order
    picked.FilterCriteria = criteria.Filters.map((f) => canon(JSON.parse(f.Pattern)));
  }
  return canon(picked);
}

/** `action on resource` pairs granted by the inline policies of `role`. */
export function grants(role: Resource | undefined): string[] {
  const out: string[] = [];
  const policies = (role?.Properties?.Policies ?? []) as Array<{ PolicyDocument: { Statement: Array<Record<string, unknown>> } }>;
  for (const policy of policies) {
    for (const st of policy.PolicyDocument.Statement) {
      if (st.Effect !== "Allow") continue;
      const actions = ([] as unknown[]).concat(st.Action);
      const resources = ([] as unknown[]).concat(st.Resource);
      for (const a of actions) for (const r of resources) out.push(`${a} on ${JSON.stringify(canon(r))}`);
    }
  }
  return out.sort();
}

function roleOf(fnProps: Record<string, unknown>): string | undefined {
  const role = canon(fnProps.Role) as { "Fn::GetAtt"?: string[] };
  return role["Fn::GetAtt"]?.[0];
}

function resourceModel(r: Resource): unknown {
  const skips = ((r.Metadata?.checkov as { skip?: Array<{ id: string }> } | undefined)?.skip ?? []).map((s) => s.id).sort();
  return canon({
    Type: r.Type,
    Properties: r.Properties ?? {},
    Condition: r.Condition,
    DeletionPolicy: r.DeletionPolicy,
    UpdateReplacePolicy: r.UpdateReplacePolicy,
    CheckovSkips: skips,
  });
}

/** The model of the SAM template: Globals merged, Serverless types expanded. */
export function samModel(t: Template): StackModel {
  const globals = t.Globals?.Function ?? {};
  const functions: Record<string, FunctionModel> = {};
  const resources: Record<string, unknown> = {};
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type === "AWS::Serverless::Function") {
      const props = { ...globals, ...r.Properties };
      const events = Object.entries((props.Events ?? {}) as Record<string, { Type: string; Properties: Record<string, unknown> }>);
      if (events.length !== 1 || events[0][1].Type !== "Kinesis") throw new Error(`${id}: expected one Kinesis event`);
      const [, event] = events[0];
      const { Stream, ...rest } = event.Properties;
      functions[id] = {
        binary: (r.Metadata?.BuildProperties as { Binary?: string } | undefined)?.Binary,
        properties: canon(pick(props, FUNCTION_PROPS)),
        mapping: mappingModel({ ...rest, EventSourceArn: Stream }),
        grants: grants(t.Resources[roleOf(props) ?? ""]),
      };
      resources[id] = canon({ Type: "AWS::Lambda::Function", CheckovSkips: skipsOf(r) });
    } else if (r.Type === "AWS::Serverless::LayerVersion") {
      // the content (rules/) is an asset in both: compared by the test on its own
      const { ContentUri, RetentionPolicy, ...props } = r.Properties ?? {};
      void ContentUri;
      resources[id] = resourceModel({
        Type: "AWS::Lambda::LayerVersion",
        Properties: props,
        DeletionPolicy: RetentionPolicy as string,
        UpdateReplacePolicy: RetentionPolicy as string,
      });
    } else {
      resources[id] = resourceModel(r);
    }
  }
  return { parameters: canon(t.Parameters), conditions: canon(t.Conditions), functions, resources, outputs: canon(t.Outputs) };
}

function skipsOf(r: Resource): string[] {
  return ((r.Metadata?.checkov as { skip?: Array<{ id: string }> } | undefined)?.skip ?? []).map((s) => s.id).sort();
}

/** The model of the CDK template: mappings folded into their functions, CDK's own additions left out. */
export function cdkModel(t: Template): StackModel {
  const functions: Record<string, FunctionModel> = {};
  const resources: Record<string, unknown> = {};
  const mappings = Object.values(t.Resources).filter((r) => r.Type === "AWS::Lambda::EventSourceMapping");
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type === "AWS::Lambda::Function") {
      const props = r.Properties ?? {};
      const mine = mappings.filter((m) => JSON.stringify(canon(m.Properties?.FunctionName)) === JSON.stringify({ Ref: id }));
      if (mine.length !== 1) throw new Error(`${id}: expected one event source mapping, found ${mine.length}`);
      functions[id] = {
        binary: binaryOf(id),
        properties: canon(pick(props, FUNCTION_PROPS)),
        mapping: mappingModel(mine[0].Properties ?? {}),
        grants: grants(t.Resources[roleOf(props) ?? ""]),
      };
      resources[id] = canon({ Type: "AWS::Lambda::Function", CheckovSkips: skipsOf(r) });
    } else if (r.Type === "AWS::Lambda::EventSourceMapping") {
      continue; // compared with its function
    } else if (r.Type === "AWS::Lambda::LayerVersion") {
      const { Content, ...props } = r.Properties ?? {};
      void Content;
      resources[id] = resourceModel({ ...r, Properties: props });
    } else {
      resources[id] = resourceModel(r);
    }
  }
  const { BootstrapVersion, ...parameters } = t.Parameters ?? {};
  void BootstrapVersion;
  return { parameters: canon(parameters), conditions: canon(t.Conditions), functions, resources, outputs: canon(t.Outputs) };
}

/** `ArchiveFunction` -> `archive`: the binary the CDK app packages for that function. */
function binaryOf(logicalId: string): string {
  return logicalId.replace(/Function$/, "").toLowerCase();
}
