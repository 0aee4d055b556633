import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger, LazyChildLogger, lazyChildLoggerFactory } from '../../src/logger.js';

/*
 * The per-request logger (issue 7): a pino child is made only when a line is written at an
 * enabled level, and then carries the request id like an eager child would.
 */

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, stream };
}

t.test('no child until a line at an enabled level; then the bindings are on it', async (t) => {
  const { lines, stream } = capture();
  const root = createLogger('warn', stream);
  let children = 0;
  const counting = Object.create(root, { child: { value: (...a: Parameters<typeof root.child>) => (children++, root.child(...a)) } });
  const log = lazyChildLoggerFactory(counting, { request_id: 'req-1' }, {}) as unknown as LazyChildLogger;
  t.ok(log instanceof LazyChildLogger);
  log.info({ a: 1 }, 'not written');
  log.debug('not written');
  t.equal(children, 0, 'disabled levels make no child');
  t.equal(log.level, 'warn', 'the level is the parent\'s');
  t.notOk(log.isLevelEnabled('info'));
  log.warn({ a: 2 }, 'written');
  log.error('also written');
  t.equal(children, 1, 'one child, made on the first enabled line');
  await new Promise((r) => setImmediate(r));
  t.match(lines, [{ msg: 'written', a: 2, request_id: 'req-1', service: 'authnzd' }, { msg: 'also written', request_id: 'req-1' }]);
  t.equal(lines.length, 2);
});

t.test('a level of its own makes an ordinary child', async (t) => {
  const { stream } = capture();
  const root = createLogger('warn', stream);
  const log = lazyChildLoggerFactory(root, { request_id: 'r' }, { level: 'debug' });
  t.notOk(log instanceof LazyChildLogger);
  t.equal(log.level, 'debug');
});

t.test('raising the level on the lazy child applies to it only', async (t) => {
  const { lines, stream } = capture();
  const root = createLogger('warn', stream);
  const log = new LazyChildLogger(root, { request_id: 'r2' });
  log.level = 'info';
  log.info('now written');
  root.info('still not written');
  await new Promise((r) => setImmediate(r));
  t.match(lines, [{ msg: 'now written', request_id: 'r2' }]);
  t.equal(lines.length, 1);
});
