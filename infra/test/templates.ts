// Loading the two templates to compare: ../template.yaml (SAM, with CloudFormation's
// short-form tags) and the CDK stack synthesised in-process with placeholder code.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { App } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { EddyStack, FUNCTIONS } from "../lib/eddy-stack";

/** A CloudFormation template as parsed JSON. */
export type Template = {
  Parameters?: Record<string, Record<string, unknown>>;
  Conditions?: Record<string, unknown>;
  Globals?: { Function?: Record<string, unknown> };
  Resources: Record<string, Resource>;
  Outputs?: Record<string, Record<string, unknown>>;
};
/** One resource of a template. */
export type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  Condition?: string;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};

export const REPO_ROOT = path.resolve(__dirname, "..", "..");

// CloudFormation's short forms (!Ref, !GetAtt, !Sub, ...) as their long forms.
const tag = (name: string, kind: "scalar" | "sequence" | "mapping", construct: (data: unknown) => unknown) =>
  new yaml.Type(`!${name}`, { kind, construct });
const FUNCTION_TAGS = ["Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub", "If", "Equals", "Not", "And", "Or", "Condition"];
const CFN_SCHEMA = yaml.DEFAULT_SCHEMA.extend([
  tag("Ref", "scalar", (d) => ({ Ref: d })),
  tag("GetAtt", "scalar", (d) => ({ "Fn::GetAtt": String(d).split(".") })),
  tag("GetAtt", "sequence", (d) => ({ "Fn::GetAtt": d })),
  ...FUNCTION_TAGS.flatMap((name) => {
    const key = name === "Condition" ? "Condition" : `Fn::${name}`;
    return (["scalar", "sequence", "mapping"] as const).map((kind) => tag(name, kind, (d) => ({ [key]: d })));
  }),
]);

/** ../template.yaml, parsed. */
export function samTemplate(): Template {
  const text = fs.readFileSync(path.join(REPO_ROOT, "template.yaml"), "utf8");
  return yaml.load(text, { schema: CFN_SCHEMA }) as Template;
}

/** The CDK stack's template, synthesised with a placeholder `bootstrap` per function. */
export function cdkTemplate(): Template {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eddy-cdk-test-"));
  try {
    for (const name of FUNCTIONS) {
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(path.join(dir, name, "bootstrap"), "placeholder");
    }
    const app = new App({ outdir: path.join(dir, "cdk.out"), analyticsReporting: false });
    const stack = new EddyStack(app, "Eddy", {
      repoRoot: REPO_ROOT,
      code: (name) => lambda.Code.fromAsset(path.join(dir, name)),
    });
    return app.synth().getStackByName(stack.stackName).template as Template;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
