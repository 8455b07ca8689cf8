// A receiver that retrains on version 1 and predicts with version 2.
//
// One command, against a running `modelhooks dev` (run it from the directory where
// `modelhooks dev` was started, so that .modelhooks-dev-key is found, or set
// MODELHOOKS_API_KEY):
//
//     node examples/js_express_receiver/receiver.mjs
//
// It uses webhookMiddleware the way an Express app would (`app.post(path,
// middleware, handler)`), on node:http so that nothing needs installing. It
// registers itself through the SDK, then plays the trainer: it reports version 1
// of home_rentals going generating -> training -> complete. On the callback for
// version 1 it "retrains" by reporting version 2; on version 2 it "predicts",
// removes its callback and exits. Training and prediction are stand-ins.

import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import { Client, webhookMiddleware } from '../../sdk/js/src/index.js';

const MODEL = 'home_rentals';
const STEPS = ['generating', 'training', 'complete'];
const service = process.env.MODELHOOKS_URL ?? 'http://127.0.0.1:5000';
const timeoutMs = Number(process.env.RECEIVER_TIMEOUT_MS ?? 60_000);

function apiKey() {
  if (process.env.MODELHOOKS_API_KEY) {
    return process.env.MODELHOOKS_API_KEY;
  }
  if (existsSync('.modelhooks-dev-key')) {
    return readFileSync('.modelhooks-dev-key', 'utf8').trim();
  }
  console.error('set MODELHOOKS_API_KEY, or run where `modelhooks dev` wrote .modelhooks-dev-key');
  process.exit(2);
}

// Stand-in for a trainer: report each step of one model version.
async function train(client, project, version) {
  for (const status of STEPS) {
    await client.reportStatus(project, MODEL, version, status, { active: status === 'complete' });
    await new Promise((done) => setTimeout(done, 100));
  }
}

// Stand-in for a prediction: a fixed formula per version, for one flat.
function predict(change) {
  const rooms = 2;
  const squareMetres = 80;
  return 900 + 350 * rooms + (12.5 * squareMetres * change.version) / 2;
}

async function main() {
  const client = new Client(service, apiKey());
  const project = `express_demo_${Date.now()}`;
  const seen = new Set();
  let finish;
  const finished = new Promise((done) => { finish = done; });

  // What an Express route handler would be, after the middleware.
  const onChange = (req, res) => {
    const change = req.modelStatusChange;
    res.statusCode = 204;
    res.end();
    // At-least-once delivery: the same webhook-id may come twice.
    if (seen.has(change.webhookId)) {
      return;
    }
    seen.add(change.webhookId);
    const { webhookId, name, version, oldStatus, newStatus } = change;
    console.log(`received ${webhookId}: ${name} v${version} ${oldStatus} -> ${newStatus}`);

    if (change.newStatus === 'complete' && change.version === 1) {
      console.log('retraining: reporting version 2');
      train(client, project, 2).catch((error) => {
        console.log(`retraining failed: ${error.message}`);
        finish(false);
      });
    } else if (change.newStatus === 'complete' && change.version === 2) {
      console.log(`predicting with version 2: ${predict(change)}`);
      finish(true);
    }
  };

  let verify = null;
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/hooks/models' || verify === null) {
      res.statusCode = 404;
      res.end();
      return;
    }
    verify(req, res, () => onChange(req, res));
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${server.address().port}/hooks/models`;

  const callback = await client.addCallback(url, {
    modelName: MODEL,
    projectName: project,
    count: 3,
    interval: 1,
  });
  verify = webhookMiddleware(callback.secret);
  console.log(`registered callback ${callback.id} -> ${url}`);

  const timer = setTimeout(() => finish(false), timeoutMs);
  let ok;
  try {
    console.log('training version 1');
    await train(client, project, 1);
    ok = await finished;
  } finally {
    clearTimeout(timer);
    await client.deleteCallback(callback.id);
    server.closeAllConnections();
    server.close();
  }
  console.log(ok ? 'done' : `no callback for version 2 within ${timeoutMs} ms`);
  return ok ? 0 : 1;
}

process.exitCode = await main();
