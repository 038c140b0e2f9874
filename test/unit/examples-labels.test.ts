// The twine.* labels of every example compose file are valid labels: what a user
// copies from examples/ parses (the files' own validity as compose files is
// checked by the examples e2e test with docker-compose).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseLabels } from '../../src/labels/parse.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples', import.meta.url));

/** Per service of a compose file (two-space indented under `services:`), its `twine.*: "value"` labels. */
function serviceLabels(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  let service: string | undefined;
  for (const line of text.split('\n')) {
    const s = /^ {2}([A-Za-z0-9_.-]+):\s*$/.exec(line);
    if (s) service = s[1];
    const l = /^\s+(twine\.[^:\s]+(?::[^\s"]+)?):\s+"([^"]*)"/.exec(line);
    if (l && service) out.set(service, { ...(out.get(service) ?? {}), [l[1]!]: l[2]! });
  }
  return out;
}

test('every example compose file has twine.* labels, and they parse', () => {
  const files = readdirSync(EXAMPLES)
    .map((d) => join(EXAMPLES, d, 'docker-compose.yml'))
    .filter((f) => existsSync(f));
  assert.ok(files.some((f) => f.includes('vpn-lan')), files.join(', '));
  let labelled = 0;
  for (const f of files) {
    for (const [service, labels] of serviceLabels(readFileSync(f, 'utf8'))) {
      labelled++;
      assert.doesNotThrow(() => parseLabels(service, labels), `${f}: ${service}`);
    }
  }
  assert.ok(labelled >= 4, `only ${labelled} labelled services found`);
});

test('the vpn-lan example: a tunnel plus one LAN prefix via eth0, and the forwarded-port file', () => {
  const labels = serviceLabels(readFileSync(join(EXAMPLES, 'vpn-lan', 'docker-compose.yml'), 'utf8')).get('vpn')!;
  const spec = parseLabels('vpn', labels);
  assert.deepEqual(spec.natInterfaces, ['wg0', 'eth0']);
  assert.deepEqual(spec.whitelists?.map((w) => [w.iface ?? '*', w.from?.nets.length ?? 0, w.to?.nets.length ?? 0]), [
    ['*', 1, 0],
    ['eth0', 0, 1],
  ]);
  assert.equal(spec.portFile, '/tmp/gluetun/forwarded_port');
  assert.deepEqual(spec.forwards.map((f) => `${f.iface} ${f.proto} ${f.fromFile === true}`), ['wg0 tcp true', 'wg0 udp true']);
});
