// Starts `medvault dev` (the binary from $MEDVAULT_BIN, default
// ../target/debug/medvault) in a temporary folder with the built page
// (web/dist), waits for its stack.json, and returns the teardown that stops
// it (SIGINT: services, then Kubo and Anvil) and removes the folder.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const START_TIMEOUT_MS = 300_000;

export default async function globalSetup(): Promise<() => Promise<void>> {
  // A stack already running (MEDVAULT_TEST_STACK=.../stack.json): used as it is, not stopped.
  if (process.env.MEDVAULT_TEST_STACK) {
    process.env.MEDVAULT_TEST_BIN = resolve(web, process.env.MEDVAULT_BIN ?? '../target/debug/medvault');
    return async () => {};
  }
  const bin = resolve(web, process.env.MEDVAULT_BIN ?? '../target/debug/medvault');
  if (!existsSync(bin)) throw new Error(`no medvault binary at ${bin}: cargo build -p medvault-cli, or set MEDVAULT_BIN`);
  const dist = join(web, 'dist');
  if (!existsSync(join(dist, 'index.html'))) throw new Error(`no built page in ${dist}: npm run build`);
  const tmp = mkdtempSync(join(tmpdir(), 'medvault-web-'));
  const dir = join(tmp, 'dev');
  mkdirSync(join(web, 'test-results'), { recursive: true });
  const log = createWriteStream(join(web, 'test-results', 'medvault-dev.log'));
  const child: ChildProcess = spawn(bin, ['dev', '--dir', dir, '--web', dist], {
    cwd: tmp,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited = false;
  const done = new Promise<void>((resolveExit) => child.once('exit', () => {
    exited = true;
    resolveExit();
  }));

  const stackPath = join(dir, 'stack.json');
  const started = Date.now();
  for (;;) {
    if (exited) throw new Error(`medvault dev exited during its start: see test-results/medvault-dev.log`);
    if (existsSync(stackPath)) {
      try {
        const stack = JSON.parse(readFileSync(stackPath, 'utf8')) as { gateway_url: string };
        const page = await fetch(stack.gateway_url);
        if (page.ok && (await page.text()).includes('<main id="app">')) break;
      } catch {
        /* not yet */
      }
    }
    if (Date.now() - started > START_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error('medvault dev did not write stack.json and serve the page within 5 minutes');
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  process.env.MEDVAULT_TEST_STACK = stackPath;
  process.env.MEDVAULT_TEST_BIN = bin;
  process.env.MEDVAULT_TEST_TMP = tmp;

  return async () => {
    if (!exited) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await done;
      clearTimeout(timer);
    }
    log.end();
    rmSync(tmp, { recursive: true, force: true });
  };
}
