#!/usr/bin/env node
// A `solc` command line over solc-js, for machines without a native solc.
//
// It answers the two calls that forge and foundry-compilers make:
//   solc --version          two lines, as native solc prints them
//   solc --standard-json    Standard JSON on stdin, Standard JSON on stdout,
//                           imports resolved against --base-path and
//                           --include-path, confined to those and --allow-paths
// Other flags are accepted and ignored, as native solc ignores most flags in
// --standard-json mode. The solc-js module is found through SOLCJS_MODULE, or
// in .tools/npm beside this repository's tools/ folder.
'use strict';

const fs = require('fs');
const path = require('path');

const VALUE_FLAGS = new Set(['--base-path', '--include-path', '--allow-paths']);

function parseArgs(argv) {
  const args = { version: false, standardJson: false, help: false, basePath: null, includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    let value = null;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    if (VALUE_FLAGS.has(flag) && value === null) {
      value = argv[++i];
      if (value === undefined) fail(`${flag} needs a value`);
    }
    switch (flag) {
      case '--version': args.version = true; break;
      case '--standard-json': args.standardJson = true; break;
      case '--help': case '-h': args.help = true; break;
      case '--base-path': args.basePath = path.resolve(value); break;
      case '--include-path': args.includePaths.push(path.resolve(value)); break;
      case '--allow-paths':
        for (const p of value.split(',')) if (p) args.allowPaths.push(path.resolve(p));
        break;
      default: break; // accepted and ignored
    }
  }
  return args;
}

function fail(message) {
  process.stderr.write(`solc (solc-js wrapper): ${message}\n`);
  process.exit(1);
}

function loadSolc() {
  const module = process.env.SOLCJS_MODULE
    || path.resolve(__dirname, '..', '..', '.tools', 'npm', 'node_modules', 'solc');
  try {
    return require(module);
  } catch (err) {
    fail(`cannot load solc-js from ${module} (run scripts/bootstrap.sh): ${err.message}`);
  }
}

function isInside(file, dir) {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

// Resolves an import the way native solc's file reader does: an absolute path
// as it is, otherwise against the base path and then each include path; only
// files inside those roots or an allowed path may be read.
function importResolver(args) {
  const base = args.basePath || process.cwd();
  const roots = [base, ...args.includePaths];
  const allowed = [...roots, ...args.allowPaths];
  return (unitName) => {
    const candidates = path.isAbsolute(unitName) ? [unitName] : roots.map((root) => path.join(root, unitName));
    for (const file of candidates) {
      const real = fs.existsSync(file) ? fs.realpathSync(file) : null;
      if (real === null) continue;
      if (!allowed.some((dir) => isInside(file, dir) || isInside(real, dir))) {
        return { error: `File outside of allowed directories: ${unitName}` };
      }
      return { contents: fs.readFileSync(real, 'utf8') };
    }
    return { error: `File not found: ${unitName}` };
  };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write('usage: solc --version | solc --standard-json [--base-path P] [--include-path P]... [--allow-paths P,...]\n');
    return;
  }
  if (args.version) {
    const solc = loadSolc();
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!args.standardJson) {
    fail('only --version and --standard-json are supported');
  }
  const input = fs.readFileSync(0, 'utf8');
  const solc = loadSolc();
  const output = solc.compile(input, { import: importResolver(args) });
  process.stdout.write(output);
}

main();
