import t from 'tap';
import { ADMIN_SECRET, json, show } from '../helper.js';
import { specApp } from './util.js';

/*
 * SPEC §2: every non-2xx answer has the error body {code, message, request_id} and echoes
 * x-request-id. A path that is not valid percent-encoding is refused by Fastify's router before
 * any hook runs; its default answer was {"error", "code": "FST_ERR_BAD_URL", "statusCode"} with
 * no request id at all.
 */

t.test('a malformed URL answers 400 invalid_request with the SPEC error body and x-request-id', async (t) => {
  const h = await specApp(t);
  for (const url of ['/v1/%zz', '/v1/session_%E0%A4%A', '/%']) {
    const res = await h.app.inject({
      method: 'POST', url,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_SECRET}`, 'x-request-id': 'bad-url-1' },
      payload: '{}',
    });
    t.equal(res.statusCode, 400, `${url}: ${show(res)}`);
    t.equal(res.headers['x-request-id'], 'bad-url-1', `${url}: x-request-id echoed`);
    const body = json(res);
    t.equal(body.code, 'invalid_request', show(res));
    t.type(body.message, 'string');
    t.equal(body.request_id, 'bad-url-1', show(res));
    t.notOk('statusCode' in body || 'error' in body, `no Fastify default fields: ${show(res)}`);
  }
  // Without an x-request-id one is generated, and it is the same in the header and the body.
  const res = await h.app.inject({ method: 'GET', url: '/%zz' });
  t.equal(res.statusCode, 400, show(res));
  t.type(res.headers['x-request-id'], 'string');
  t.equal(json(res).request_id, res.headers['x-request-id'], show(res));
  t.match(h.rawLogs(), /"request_id":"bad-url-1"/, 'the refused request is logged with its id');
});
