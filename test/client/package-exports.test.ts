import t from 'tap';
import * as source from '../../src/client/index.js';

// What `import ... from 'authnzd'` gives a caller: the package's own exports (package.json), the
// compiled build, which `npm ci` makes (the `prepare` script). A fresh clone has no dist/ until
// then, so this fails if the build stops being part of the install.
for (const specifier of ['authnzd', 'authnzd/client']) {
  t.test(`${specifier} exports the SDK and the Fastify plugin`, async (t) => {
    const pkg = (await import(specifier)) as Record<string, unknown>;
    t.same(Object.keys(pkg).sort(), Object.keys(source).sort(), 'the same names as src/client/index.ts');
    t.type(pkg.createClient, 'function');
    t.type(pkg.authnzdApiKeys, 'function');
    t.same(pkg.actionNames, source.actionNames, 'the same actions as the sources');
  });
}
