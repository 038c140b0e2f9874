// The daemon against the fake Docker: an event line over the limit is dropped
// (it is not buffered), and what it said is not lost: the daemon re-syncs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, type Readable } from 'node:stream';
import { Daemon } from '../../src/engine/daemon.js';
import { createLogger } from '../../src/log.js';
import { FakeDocker, FakeNetns, FakeNft, Namespaces } from '../fakes/index.js';

class StreamingDocker extends FakeDocker {
  readonly stream = new PassThrough();
  override async events(): Promise<Readable> {
    return this.stream;
  }
}

async function until(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('an event line over 1 MiB is dropped and triggers a re-sync (its die may be in it); normal lines do not', async () => {
  const docker = new StreamingDocker();
  const spaces = new Namespaces();
  const daemon = new Daemon(docker, new FakeNetns(spaces), new FakeNft(spaces), createLogger({ level: 'silent' }), {
    allowHostRoutes: false,
    hostNetns: '/fake/host-netns',
    concurrency: 2,
    resyncIntervalMs: 0,
  });
  daemon.start();
  try {
    await until('the start-up listing', () => docker.count('list') === 1);
    await until('connected', () => daemon.dockerConnected);
    const event = (action: string): string => `${JSON.stringify({ Type: 'container', Action: action, Actor: { ID: 'c'.repeat(64), Attributes: { name: 'x' } }, timeNano: 1 })}\n`;
    docker.stream.write(event('die'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(docker.count('list'), 1, 'a normal event is no reason to list');
    // A die whose attributes (every label of the container) make the line longer than 1 MiB.
    const huge = JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: 'c'.repeat(64), Attributes: { name: 'x', big: 'y'.repeat(1024 * 1024) } }, timeNano: 2 });
    docker.stream.write(`${huge}\n`);
    await until('the re-sync after the dropped line', () => docker.count('list') === 2);
    assert.equal(daemon.reconnects, 0, 'the stream went on: no reconnect');
  } finally {
    docker.stream.end();
    await daemon.stop(1000);
  }
});
