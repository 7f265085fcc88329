// template.yaml (SAM) and the CDK app describe the same stack: the same functions,
// event source settings, streams, delivery stream, buckets, IAM grants per function,
// parameters, conditions, alarms and outputs.
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { before, describe, it } from "node:test";
import { FUNCTIONS } from "../lib/eddy-stack";
import { canon, cdkModel, grants, samModel, StackModel } from "./model";
import { cdkTemplate, REPO_ROOT, samTemplate, Template } from "./templates";

const FUNCTION_IDS = FUNCTIONS.map((f) => `${f[0].toUpperCase()}${f.slice(1)}Function`);

describe("template.yaml and the CDK stack", () => {
  let samT: Template;
  let cdkT: Template;
  let sam: StackModel;
  let cdk: StackModel;

  before(() => {
    samT = samTemplate();
    cdkT = cdkTemplate();
    sam = samModel(samT);
    cdk = cdkModel(cdkT);
  });

  it("have the same resources (logical IDs and types)", () => {
    const types = (m: StackModel) =>
      Object.fromEntries(Object.entries(m.resources).map(([id, r]) => [id, (r as { Type: string }).Type]));
    assert.deepEqual(types(cdk), types(sam));
  });

  for (const [i, id] of FUNCTION_IDS.entries()) {
    describe(id, () => {
      it("is built from the binary of the same name", () => {
        assert.equal(sam.functions[id]?.binary, FUNCTIONS[i]);
        assert.equal(cdk.functions[id]?.binary, FUNCTIONS[i]);
      });
      it("has the same function settings (runtime, architecture, memory, timeout, role, environment, layers, logs)", () => {
        assert.deepEqual(cdk.functions[id].properties, sam.functions[id].properties);
      });
      it("has the same Kinesis event source settings", () => {
        assert.deepEqual(cdk.functions[id].mapping, sam.functions[id].mapping);
      });
      it("has the same IAM grants, none with a * action or resource", () => {
        assert.deepEqual(cdk.functions[id].grants, sam.functions[id].grants);
        assert.ok(sam.functions[id].grants.length > 0, "no grants found");
        for (const grant of sam.functions[id].grants) {
          const [action, resource] = grant.split(" on ");
          assert.ok(!action.includes("*"), `wildcard action: ${grant}`);
          assert.notEqual(resource, '"*"', `wildcard resource: ${grant}`);
        }
      });
    });
  }

  // every resource that is not a function: streams, the delivery stream, the buckets and
  // their policies, the key, the queue, the log groups, the roles, the alarms, the layer
  const others = () => Object.keys(sam.resources).filter((id) => !FUNCTION_IDS.includes(id));
  it("have the same streams, delivery stream, buckets, roles, alarms and other resources", () => {
    assert.ok(others().length > 20, `only ${others().length} resources`);
    for (const id of others()) {
      assert.deepEqual(cdk.resources[id], sam.resources[id], `resource ${id} differs`);
    }
  });

  it("have the same parameters, conditions and outputs", () => {
    assert.deepEqual(cdk.parameters, sam.parameters);
    assert.deepEqual(cdk.conditions, sam.conditions);
    assert.deepEqual(cdk.outputs, sam.outputs);
  });

  it("ship rules/ as the filter's layer", () => {
    assert.equal(samT.Resources.RulesLayer.Properties?.ContentUri, "rules/");
    const env = (samT.Resources.FilterFunction.Properties?.Environment as { Variables: Record<string, string> }).Variables;
    const rulesFile = env.EDDY_RULES_FILE;
    assert.match(rulesFile, /^\/opt\//);
    assert.ok(fs.existsSync(path.join(REPO_ROOT, "rules", rulesFile.slice("/opt/".length))), `${rulesFile} is not in rules/`);
  });

  it("keep detect's state in one retained, KMS-encrypted table with TTL, that only detect may use", () => {
    for (const t of [samT, cdkT]) {
      const table = t.Resources.FraudStateTable;
      assert.equal(table.Type, "AWS::DynamoDB::Table");
      assert.equal(table.DeletionPolicy, "Retain");
      assert.equal(table.UpdateReplacePolicy, "Retain");
      const p = canon(table.Properties) as Record<string, unknown>;
      assert.equal(p.BillingMode, "PAY_PER_REQUEST");
      assert.deepEqual(p.KeySchema, [{ AttributeName: "pk", KeyType: "HASH" }]);
      assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: "expires_at", Enabled: "true" });
      assert.deepEqual(p.SSESpecification, { KMSMasterKeyId: { "Fn::GetAtt": ["DataKey", "Arn"] }, SSEEnabled: "true", SSEType: "KMS" });
      assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: "true" });
    }
    const onTable = ["BatchGetItem", "GetItem", "PutItem", "UpdateItem"].map(
      (a) => `dynamodb:${a} on ${JSON.stringify({ "Fn::GetAtt": ["FraudStateTable", "Arn"] })}`,
    );
    for (const id of FUNCTION_IDS) {
      const dynamo = sam.functions[id].grants.filter((g) => g.startsWith("dynamodb:"));
      assert.deepEqual(dynamo, id === "DetectFunction" ? onTable : [], id);
    }
  });

  it("filter on the FilterCriteria generated from that rule file", () => {
    const generated = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "infra", "filter-criteria", "security.json"), "utf8"));
    const expected = generated.Filters.map((f: { Pattern: string }) => canon(JSON.parse(f.Pattern)));
    const mapping = sam.functions.FilterFunction.mapping as { FilterCriteria: unknown };
    assert.deepEqual(mapping.FilterCriteria, expected);
  });
});

describe("the comparison itself", () => {
  it("notices a changed event source setting, grant or bucket setting", () => {
    const t = samTemplate();
    const base = samModel(t);
    const fn = t.Resources.EnrichFunction.Properties as { Events: { Raw: { Properties: Record<string, unknown> } } };
    fn.Events.Raw.Properties.BatchSize = 10;
    (t.Resources.EnrichRole.Properties as { Policies: Array<{ PolicyDocument: { Statement: unknown[] } }> }).Policies[0].PolicyDocument.Statement.push({
      Effect: "Allow",
      Action: "s3:DeleteObject",
      Resource: "arn:aws:s3:::x/*",
    });
    (t.Resources.DataBucket.Properties as { VersioningConfiguration: { Status: string } }).VersioningConfiguration.Status = "Suspended";
    const changed = samModel(t);
    assert.notDeepEqual(changed.functions.EnrichFunction.mapping, base.functions.EnrichFunction.mapping);
    assert.notDeepEqual(changed.functions.EnrichFunction.grants, base.functions.EnrichFunction.grants);
    assert.notDeepEqual(changed.resources.DataBucket, base.resources.DataBucket);
    assert.ok(grants(t.Resources.EnrichRole).includes('s3:DeleteObject on "arn:aws:s3:::x/*"'));
  });
});
