#!/usr/bin/env node
// The CDK app: one stack, `Eddy` (rename it with `-c eddy:stackName=NAME`).
//   npx cdk synth                      builds the functions with cargo-lambda, then synthesises
//   npx cdk synth -c eddy:build=false  uses the bootstraps already under target/lambda/
//   npx cdk deploy                     deploys (after `cdk bootstrap` once per account/region)
import * as path from "path";
import { App } from "aws-cdk-lib";
import { EddyStack } from "../lib/eddy-stack";
import { lambdaCode } from "../lib/lambda-code";

const app = new App();
const repoRoot = path.resolve(__dirname, "..", "..");
const build = String(app.node.tryGetContext("eddy:build") ?? "true") !== "false";
const lambdaDir = path.resolve(repoRoot, String(app.node.tryGetContext("eddy:lambdaDir") ?? "target/lambda"));

new EddyStack(app, String(app.node.tryGetContext("eddy:stackName") ?? "Eddy"), {
  repoRoot,
  code: lambdaCode(repoRoot, lambdaDir, build),
});
