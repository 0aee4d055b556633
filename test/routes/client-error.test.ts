import { connect } from 'node:net';
import t from 'tap';
import { buildTestApp } from '../helper.js';

/*
 * Requests Node's HTTP parser refuses never reach Fastify's routing or hooks. SPEC §2: every
 * non-2xx answer has the error body with a request id, and x-request-id is echoed on every
 * answer; Fastify's default answered {"error":"Bad Request","message":"Client Error",...}.
 */

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => { got += d.toString('latin1'); });
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
    socket.write(text);
  });
}

function parse(answer: string) {
  const [head, body] = answer.split('\r\n\r\n');
  const [statusLine, ...lines] = head!.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(body!) as Record<string, unknown> };
}

t.test('requests the HTTP parser refuses get the SPEC error body with a request id, and are logged', async (t) => {
  const h = await buildTestApp(t);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (h.app.server.address() as { port: number }).port;

  const huge = parse(await rawRequest(port, `POST /v1/policy_get HTTP/1.1\r\nhost: x\r\nx-pad: ${'a'.repeat(20_000)}\r\ncontent-length: 2\r\n\r\n{}`));
  t.equal(huge.status, 431, 'headers over the limit');
  t.match(huge.body, { code: 'invalid_request', message: /headers are too large/, request_id: /^[0-9a-f-]{36}$/ });
  t.equal(huge.headers['x-request-id'], huge.body.request_id, 'x-request-id echoes the body\'s id');
  t.match(huge.headers['content-type'], /^application\/json/);
  t.equal(huge.headers.connection, 'close');

  const junk = parse(await rawRequest(port, 'HELLO THERE\r\n\r\n'));
  t.equal(junk.status, 400, 'not HTTP');
  t.match(junk.body, { code: 'invalid_request', message: /not valid HTTP/, request_id: /^[0-9a-f-]{36}$/ });
  t.same(Object.keys(junk.body).sort(), ['code', 'message', 'request_id']);

  const line = h.logs.find((l) => l.request_id === huge.body.request_id);
  t.match(line, { msg: 'request', status: 431, action: 'unparsed', parser: 'HPE_HEADER_OVERFLOW' }, 'one log line with the id');
  t.notMatch(h.rawLogs(), /aaaaaaaaaa/, 'nothing of the refused request is logged');

  // The server still serves.
  const ok = await fetch(`http://127.0.0.1:${port}/health`);
  t.equal(ok.status, 200);
});
