// The functions' code for `cdk synth` / `cdk deploy`: the `bootstrap` files that
// `cargo lambda build --release --arm64` writes under target/lambda/<name>/.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { FUNCTIONS, FunctionName } from "./eddy-stack";

/** The cargo packages of the functions (their binaries are named after the function). */
export const PACKAGES = FUNCTIONS.map((name) => `eddy-${name}`);

/**
 * Builds the functions with cargo-lambda (an incremental no-op when they are up to date),
 * unless `build` is false, then returns a code factory reading `<lambdaDir>/<name>/`.
 */
export function lambdaCode(repoRoot: string, lambdaDir: string, build: boolean): (name: FunctionName) => lambda.Code {
  if (build) {
    const args = ["lambda", "build", "--release", "--arm64", ...PACKAGES.flatMap((p) => ["-p", p])];
    // cargo's progress goes to stderr, so stdout stays the synthesised template
    const result = spawnSync("cargo", args, { cwd: repoRoot, stdio: ["ignore", 2, 2] });
    if (result.error || result.status !== 0) {
      throw new Error(
        `\`cargo ${args.join(" ")}\` failed (${result.error?.message ?? `exit ${result.status}`}).\n` +
          "Install cargo-lambda (`pip install cargo-lambda`, which brings zig) and the target " +
          "(`rustup target add aarch64-unknown-linux-gnu`), or build elsewhere and synthesise " +
          "with `-c eddy:build=false` (and `-c eddy:lambdaDir=DIR` if not under target/lambda).",
      );
    }
  }
  const missing = FUNCTIONS.filter((name) => !fs.existsSync(path.join(lambdaDir, name, "bootstrap")));
  if (missing.length > 0) {
    throw new Error(`no bootstrap for ${missing.join(", ")} under ${lambdaDir}: run \`cargo lambda build --release --arm64\` first`);
  }
  return (name) => lambda.Code.fromAsset(path.join(lambdaDir, name));
}
