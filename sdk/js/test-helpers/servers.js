// Servers for the tests: a real `modelhooks dev`, and loopback stubs.
//
// `modelhooks dev` comes from the project's virtualenv (`.venv` at the repository
// root) or from MODELHOOKS_BIN. It runs in a temporary directory, so that its
// `.modelhooks-dev-key` and SQLite file land there, and is stopped by its pid.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const STARTUP_MS = 30_000;

export function venvExecutable(name, override) {
  const found = override ?? join(REPO_ROOT, '.venv', 'bin', name);
  if (!existsSync(found)) {
    throw new Error(`${found} is missing: create the project's .venv (make dev) first`);
  }
  return found;
}

export async function freePort() {
  const probe = createServer();
  await new Promise((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address();
  await new Promise((done) => probe.close(done));
  return port;
}

export async function startDevServer() {
  const workdir = mkdtempSync(join(tmpdir(), 'modelhooks-dev-js-'));
  const port = await freePort();
  const logPath = join(workdir, 'dev.log');
  const log = openSync(logPath, 'w');
  const child = spawn(venvExecutable('modelhooks', process.env.MODELHOOKS_BIN), ['dev'], {
    cwd: workdir,
    env: { ...process.env, PORT: String(port), DATABASE_URL: `sqlite:///${workdir}/dev.db` },
    stdio: ['ignore', log, log],
  });
  const baseUrl = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => process.kill(child.pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(workdir, { recursive: true, force: true });
  };

  try {
    await waitUntilHealthy(baseUrl, child);
  } catch (error) {
    const output = readFileSync(logPath, 'utf8');
    await stop();
    throw new Error(`${error.message}\n${output}`);
  }
  const apiKey = readFileSync(join(workdir, '.modelhooks-dev-key'), 'utf8').trim();
  return { baseUrl, apiKey, workdir, stop, log: () => readFileSync(logPath, 'utf8') };
}

async function waitUntilHealthy(baseUrl, child) {
  const deadline = Date.now() + STARTUP_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`modelhooks dev exited with ${child.exitCode}`);
    }
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error(`modelhooks dev did not answer within ${STARTUP_MS} ms`);
}

// A loopback server answering every request with `respond(captured)`, which gives
// `{ status, headers, body }`; `requests` keeps what arrived.
export async function startStub(respond) {
  const requests = [];
  const waiters = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) {
      chunks.push(chunk);
    }
    const received = Buffer.concat(chunks);
    const captured = { method: req.method, path: req.url, headers: req.headers, body: received };
    requests.push(captured);
    waiters.splice(0).forEach((wake) => wake());

    const { status = 200, headers = {}, body = '' } = await respond(captured);
    res.writeHead(status, headers);
    res.end(body);
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));

  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    async waitFor(count, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count && Date.now() < deadline) {
        await new Promise((wake) => {
          waiters.push(wake);
          setTimeout(wake, 100);
        });
      }
      return requests.slice();
    },
    close: () => new Promise((done) => {
      server.closeAllConnections();
      server.close(done);
    }),
  };
}
