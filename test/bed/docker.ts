// Docker helpers for tests: labelled --internal networks and labelled
// containers of the local test image, named twt-*, plus what tests read back
// (pid, addresses, namespace path).

import { run, runAllowFail, parseJson } from './exec.js';
import { ensureImage, TEST_IMAGE } from './image.js';
import { OWNER_LABEL, PREFIX, TEST_LABEL } from './owner.js';

/** `docker -H <host> <args>` (host undefined: the machine's own engine). */
export function dockerAt(host: string | undefined, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return run('docker', host === undefined ? args : ['-H', host, ...args], opts);
}

export function dockerAtAllowFail(host: string | undefined, args: readonly string[], opts: { timeoutMs?: number } = {}) {
  return runAllowFail('docker', host === undefined ? args : ['-H', host, ...args], opts);
}

function checkName(name: string): void {
  if (!name.startsWith(PREFIX)) throw new Error(`test resource ${JSON.stringify(name)} must start with ${PREFIX}`);
}

function testLabels(): string[] {
  return ['--label', `${TEST_LABEL}=1`, '--label', `${OWNER_LABEL}=${process.pid}`];
}

export interface NetworkOptions {
  /** Subnet in CIDR form; Docker picks one when absent. */
  subnet?: string;
  ipv6Subnet?: string;
  /** Default true: no route off the host (ARCHITECTURE.md, "The test bed"). */
  internal?: boolean;
  labels?: Record<string, string>;
  /** Driver options (-o), e.g. com.docker.network.bridge.gateway_mode_ipv4. */
  driverOpts?: Record<string, string>;
}

/** The engine's major version (20, 28, …), read once. */
let engineMajorRead: Promise<number> | undefined;
export function engineMajor(): Promise<number> {
  engineMajorRead ??= run('docker', ['version', '--format', '{{.Server.Version}}']).then((v) => Number(v.trim().split('.')[0]));
  return engineMajorRead;
}

/** docker network create --internal --label twine-test=1 <name>; returns the network id. */
export async function createNetwork(name: string, opts: NetworkOptions = {}): Promise<string> {
  checkName(name);
  const args = ['network', 'create', ...testLabels()];
  if (opts.internal !== false) args.push('--internal');
  if (opts.subnet) args.push('--subnet', opts.subnet);
  if (opts.ipv6Subnet) args.push('--ipv6', '--subnet', opts.ipv6Subnet);
  for (const [k, v] of Object.entries(opts.labels ?? {})) args.push('--label', `${k}=${v}`);
  for (const [k, v] of Object.entries(opts.driverOpts ?? {})) args.push('-o', `${k}=${v}`);
  args.push(name);
  return (await run('docker', args)).trim();
}

export async function removeNetwork(name: string): Promise<void> {
  await runAllowFail('docker', ['network', 'rm', name]);
}

export interface NetworkAttach {
  name: string;
  aliases?: string[];
  ipv4?: string;
}

export interface ContainerOptions {
  name: string;
  /** twine.* (or any) labels; twine-test=1 and the owner label are always added. */
  labels?: Record<string, string>;
  /** The first is given at create time, the rest connected before start. Default: Docker's bridge. */
  networks?: Array<string | NetworkAttach>;
  /** Command and arguments; default the image's (sleep, exits on SIGTERM). */
  cmd?: string[];
  capAdd?: string[];
  sysctls?: Record<string, string>;
  /** `docker run -d` instead of create then start (one network at most). */
  oneShot?: boolean;
  /** Do not start it (docker create only). */
  createOnly?: boolean;
  /** Extra `docker create` arguments (e.g. ['--network', 'container:x']). */
  extraArgs?: string[];
}

export interface TestContainer {
  id: string;
  name: string;
  /** 0 when created but not started. */
  pid: number;
}

function attach(n: string | NetworkAttach): NetworkAttach {
  return typeof n === 'string' ? { name: n } : n;
}

/** Creates (and by default starts) a labelled test container. */
export async function runContainer(opts: ContainerOptions): Promise<TestContainer> {
  checkName(opts.name);
  await ensureImage();
  const nets = (opts.networks ?? []).map(attach);
  // `docker run -d`: created and started in one go, as `docker run` and compose's up do.
  const oneShot = opts.oneShot === true && nets.length <= 1 && !opts.createOnly;
  const args = [...(oneShot ? ['run', '-d'] : ['create']), '--name', opts.name, ...testLabels()];
  for (const [k, v] of Object.entries(opts.labels ?? {})) args.push('--label', `${k}=${v}`);
  const first = nets[0];
  if (first) {
    args.push('--network', first.name);
    for (const a of first.aliases ?? []) args.push('--network-alias', a);
    if (first.ipv4) args.push('--ip', first.ipv4);
  }
  for (const c of opts.capAdd ?? []) args.push('--cap-add', c);
  for (const [k, v] of Object.entries(opts.sysctls ?? {})) args.push('--sysctl', `${k}=${v}`);
  args.push(...(opts.extraArgs ?? []), TEST_IMAGE, ...(opts.cmd ?? []));
  const id = (await run('docker', args)).trim();
  for (const n of nets.slice(1)) await connectNetwork(opts.name, n);
  if (opts.createOnly) return { id, name: opts.name, pid: 0 };
  if (!oneShot) await run('docker', ['start', opts.name]);
  return { id, name: opts.name, pid: await containerPid(opts.name) };
}

export async function connectNetwork(container: string, n: string | NetworkAttach): Promise<void> {
  const a = attach(n);
  const args = ['network', 'connect'];
  for (const al of a.aliases ?? []) args.push('--alias', al);
  if (a.ipv4) args.push('--ip', a.ipv4);
  await run('docker', [...args, a.name, container]);
}

/** docker rm -f; ignores a container that is already gone. */
export async function removeContainer(name: string): Promise<void> {
  await runAllowFail('docker', ['rm', '-f', '-v', name]);
}

export interface InspectedNetwork {
  name: string;
  ipv4?: string;
  prefixLen?: number;
  ipv6?: string;
  gateway?: string;
  mac?: string;
  aliases: string[];
}

export interface InspectedContainer {
  id: string;
  name: string;
  running: boolean;
  pid: number;
  labels: Record<string, string>;
  networks: InspectedNetwork[];
}

export async function inspectContainer(name: string): Promise<InspectedContainer> {
  const [raw] = parseJson<
    Array<{
      Id: string;
      Name: string;
      State: { Running: boolean; Pid: number };
      Config: { Labels: Record<string, string> | null };
      NetworkSettings: { Networks: Record<string, { IPAddress: string; IPPrefixLen: number; GlobalIPv6Address: string; Gateway: string; MacAddress: string; Aliases: string[] | null }> };
    }>
  >(await run('docker', ['inspect', '--type', 'container', name]));
  if (!raw) throw new Error(`docker inspect ${name}: no output`);
  return {
    id: raw.Id,
    name: raw.Name.replace(/^\//, ''),
    running: raw.State.Running,
    pid: raw.State.Pid,
    labels: raw.Config.Labels ?? {},
    networks: Object.entries(raw.NetworkSettings.Networks ?? {}).map(([n, v]) => ({
      name: n,
      ipv4: v.IPAddress || undefined,
      prefixLen: v.IPPrefixLen || undefined,
      ipv6: v.GlobalIPv6Address || undefined,
      gateway: v.Gateway || undefined,
      mac: v.MacAddress || undefined,
      aliases: v.Aliases ?? [],
    })),
  };
}

/** The container's init pid (0 when not running). */
export async function containerPid(name: string): Promise<number> {
  return Number((await run('docker', ['inspect', '--type', 'container', '--format', '{{.State.Pid}}', name])).trim());
}

/** The container's IPv4 address on one network. */
export async function containerIp(name: string, network: string): Promise<string> {
  const c = await inspectContainer(name);
  const n = c.networks.find((x) => x.name === network);
  if (!n?.ipv4) throw new Error(`container ${name} has no IPv4 address on ${network}`);
  return n.ipv4;
}

/** /proc/<pid>/ns/net of a running container. */
export async function netnsPath(name: string): Promise<string> {
  const pid = await containerPid(name);
  if (pid <= 0) throw new Error(`container ${name} is not running`);
  return `/proc/${pid}/ns/net`;
}
