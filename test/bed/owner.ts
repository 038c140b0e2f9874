// Which test process owns a resource, so that cleaning up after a killed run
// never removes what a concurrently running test still uses.
// Docker objects carry the label twine-test.owner=<pid>; namespaces and links
// (which have no labels) are recorded as files under OWNER_DIR; test daemons
// carry TWINE_TEST_OWNER=<pid> in their environment.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const TEST_LABEL = 'twine-test';
export const OWNER_LABEL = 'twine-test.owner';
export const OWNER_ENV = 'TWINE_TEST_OWNER';
export const OWNER_DIR = '/run/twine-test/owners';
/** Every test resource's name starts with this. */
export const PREFIX = 'twt-';

/** True when pid is a live node process other than this one (i.e. another test run still using its resources). */
export function ownerAlive(pid: number | undefined): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return false;
  }
}

/**
 * The owner a resource's name implies: tests that make resources outside the
 * bed often name them <prefix><pid> (twt-fw-k-25799); such a name whose pid
 * is a live node process belongs to a running test.
 */
export function ownerFromName(name: string): number | undefined {
  const m = /-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** True when a resource must be kept: its recorded owner, or the pid its name ends with, is a live test process. */
export function inUse(name: string, recorded: number | undefined): boolean {
  return ownerAlive(recorded) || ownerAlive(ownerFromName(name));
}

/** What an owner file records: an `ip netns`, a link, a second engine (test/bed/second-engine.ts), a host blackhole route (name: its CIDR, / as _). */
export type OwnedKind = 'netns' | 'link' | 'engine' | 'blackhole';

function ownerFile(kind: OwnedKind, name: string): string {
  return path.join(OWNER_DIR, `${kind}.${name}`);
}

export function recordOwner(kind: OwnedKind, name: string): void {
  mkdirSync(OWNER_DIR, { recursive: true });
  writeFileSync(ownerFile(kind, name), String(process.pid));
}

export function forgetOwner(kind: OwnedKind, name: string): void {
  rmSync(ownerFile(kind, name), { force: true });
}

export function recordedOwner(kind: OwnedKind, name: string): number | undefined {
  try {
    return Number(readFileSync(ownerFile(kind, name), 'utf8').trim());
  } catch {
    return undefined;
  }
}

/**
 * A name prefix unique to one test file AND this process: twt-<tag><pid in base 36>-.
 * Two suites running the same file at once (several engineers on one machine)
 * then never touch each other's containers. Tags have 1-3 characters so that
 * the prefix is at most 12 characters (pid_max 4194304 is 5 digits in base 36),
 * leaving 3 for an interface name (at most 15 characters).
 */
export function testPrefix(tag: string): string {
  if (!/^[a-z0-9]{1,3}$/.test(tag)) throw new Error(`test prefix tag ${JSON.stringify(tag)}: 1-3 lowercase letters/digits`);
  return `${PREFIX}${tag}${process.pid.toString(36)}-`;
}

/** What a test file cleans at its start: every run's resources of its tag (live owners are kept). */
export function tagPrefix(tag: string): string {
  return `${PREFIX}${tag}`;
}
