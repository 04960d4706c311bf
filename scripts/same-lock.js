// Whether two package-lock.json files lock the same packages, leaving out
// the optional packages built for one platform (Rollup's native builds):
// a registry that serves every platform's build adds them to the lock that
// `npm install` writes, one that serves only this platform's leaves them
// out, and neither changes what is installed here.
//
// Usage: node scripts/same-lock.js COMMITTED INSTALLED
// Exits 0 when they agree; else prints the first differences and exits 1.
"use strict";
const fs = require("node:fs");

const platformOnly = (entry) => entry.optional === true && (entry.os || entry.cpu);

function locked(path) {
  const lock = JSON.parse(fs.readFileSync(path, "utf8"));
  const packages = new Map();
  for (const [name, entry] of Object.entries(lock.packages ?? {})) {
    if (platformOnly(entry)) continue;
    const { version, resolved, integrity, dependencies, optionalDependencies } = entry;
    packages.set(name, JSON.stringify({ version, resolved, integrity, dependencies, optionalDependencies }));
  }
  return packages;
}

const [committed, installed] = process.argv.slice(2).map(locked);
const differences = [];
for (const [name, entry] of committed) {
  if (installed.get(name) !== entry) differences.push(`${name || "(root)"}: ${installed.has(name) ? "changed" : "gone"}`);
}
for (const name of installed.keys()) {
  if (!committed.has(name)) differences.push(`${name}: added`);
}
if (differences.length > 0) {
  console.error(differences.slice(0, 10).join("\n"));
  process.exit(1);
}
