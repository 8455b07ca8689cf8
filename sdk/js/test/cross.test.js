// The JS SDK, the Python SDK and the standardwebhooks package agree on signatures.
// Runs the project's virtualenv Python, with modelhooks_sdk installed in it.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import { signWebhook, verifyWebhook } from '../src/index.js';
import { venvExecutable } from '../test-helpers/servers.js';

const SECRET = 'whsec_bW9kZWxob29rcyBzZGsgZ29sZGVuIHRlc3Qga2V5ISE=';
// Non-ASCII on purpose: the signature covers bytes, not characters.
const BODY = Buffer.from(
  '{"name":"café_prices","version":3,"active":true,"predictor_id":8,'
  + '"project_name":"müller","predictor_created_at":null,"old_status":"training",'
  + '"new_status":"complete","changed_at":"Fri, 09 Sep 2023 11:59:00 GMT"}',
);

const PYTHON_PRELUDE = `
import base64, json, sys
from standardwebhooks.webhooks import Webhook
from modelhooks_sdk import sign_webhook, verify_webhook
given = json.load(sys.stdin)
body = base64.b64decode(given["body"])
`;

function runPython(source, payload) {
  const python = venvExecutable('python', process.env.MODELHOOKS_PYTHON);
  const output = execFileSync(python, ['-c', PYTHON_PRELUDE + source], {
    input: JSON.stringify({ body: BODY.toString('base64'), ...payload }),
    timeout: 30_000,
  });
  return JSON.parse(output.toString('utf8'));
}

test('a request signed by the JS SDK verifies in the Python SDK', () => {
  const headers = signWebhook(BODY, SECRET, { webhookId: 'msg_fromJs' });

  const result = runPython(
    'change = verify_webhook(body, given["headers"], given["secret"])\n'
    + 'print(json.dumps({"id": change.webhook_id, "project": change.project_name}))',
    { headers, secret: SECRET },
  );

  assert.deepEqual(result, { id: 'msg_fromJs', project: 'müller' });
});

test('a request signed by the JS SDK verifies in standardwebhooks', () => {
  const headers = signWebhook(BODY, SECRET);

  const result = runPython(
    'print(json.dumps(Webhook(given["secret"]).verify(body, given["headers"])))',
    { headers, secret: SECRET },
  );

  assert.equal(result.name, 'café_prices');
});

test('a request signed by the Python SDK verifies in the JS SDK', () => {
  const headers = runPython(
    'print(json.dumps(sign_webhook(body, given["secret"], webhook_id="msg_fromPython")))',
    { secret: SECRET },
  );

  const change = verifyWebhook(BODY, headers, SECRET);

  assert.deepEqual([change.webhookId, change.name], ['msg_fromPython', 'café_prices']);
});

test('the Python SDK rejects a JS-signed request under another secret', () => {
  const headers = signWebhook(BODY, SECRET);

  const result = runPython(
    'try:\n'
    + '    verify_webhook(body, given["headers"], given["secret"])\n'
    + '    print(json.dumps({"verified": True}))\n'
    + 'except Exception as error:\n'
    + '    print(json.dumps({"error": type(error).__name__}))',
    { headers, secret: 'whsec_c29tZSBvdGhlciBzZWNyZXQgb2YgMzIgYnl0ZXMhIQ==' },
  );

  assert.deepEqual(result, { error: 'WebhookVerificationError' });
});
