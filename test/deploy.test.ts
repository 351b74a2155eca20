// The deploy files (deploy/Dockerfile, deploy/k8s/*.yaml, docs/deploy.md) checked against the
// code they configure: setting names, HTTP paths, ports, metric names and timeouts come from
// src/, so a rename there fails here instead of in a cluster. The last test runs the image's
// command locally and probes it the way the kubelet would.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_GRACE_MS, ENV_NAMES } from '../src/cli/settings.js';
import { ROUTES } from '../src/http/routes.js';
import { METRIC } from '../src/observability/metric-names.js';
import { parseQueueUrl } from '../src/queue/url.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const K8S_DIR = join(ROOT, 'deploy/k8s');
const DOCKERFILE_PATH = join(ROOT, 'deploy/Dockerfile');
const DOCS_PATH = join(ROOT, 'docs/deploy.md');

// The few manifest fields the checks read (the YAML is otherwise unconstrained).
interface Meta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  file: string;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface Deployment extends Manifest {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: Meta;
      spec: {
        terminationGracePeriodSeconds?: number;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
      };
    };
  };
}
interface Secret extends Manifest {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface SecretRef {
  name: string;
  key: string;
}
interface TriggerAuthentication extends Manifest {
  spec: { secretTargetRef?: Array<SecretRef & { parameter: string }> };
}
interface Trigger {
  type: string;
  metadata: Record<string, string>;
  authenticationRef?: { name: string };
}
interface ScaledObject extends Manifest {
  spec: { scaleTargetRef: { name: string; kind?: string }; triggers: Trigger[] };
}
interface Selecting extends Manifest {
  spec: { selector: { matchLabels?: Record<string, string> } | Record<string, string> };
}

/** Every document of every YAML file in deploy/k8s, tagged with its file; fails on a YAML error. */
function loadManifests(): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of readdirSync(K8S_DIR).filter((name) => /\.ya?ml$/.test(name))) {
    for (const document of parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'))) {
      assert.deepEqual(document.errors, [], `${file} parses`);
      const value = document.toJS() as Omit<Manifest, 'file'> | null;
      if (value !== null) manifests.push({ ...value, file });
    }
  }
  return manifests;
}

/** One instruction of a Dockerfile: its keyword (upper case) and the rest of the line. */
interface Instruction {
  keyword: string;
  rest: string;
}

/** The Dockerfile's instructions, comments dropped and continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const lines = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n');
  return lines
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), rest: rest.join(' ') };
    });
}

/** The instructions of the last stage: what the image runs with. */
function finalStage(instructions: Instruction[]): Instruction[] {
  const lastFrom = instructions.map((i) => i.keyword).lastIndexOf('FROM');
  return instructions.slice(lastFrom);
}

/** `ENV A=1 B="two"` (or the legacy `ENV A 1`), all ENV lines of the stage merged. */
function dockerEnv(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { rest } of stage.filter((i) => i.keyword === 'ENV')) {
    if (!rest.includes('=')) {
      const [name = '', ...value] = rest.split(' ');
      env[name] = value.join(' ');
      continue;
    }
    for (const match of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) {
      env[match[1]!] = match[3] ?? match[2]!;
    }
  }
  return env;
}

/** The one instruction of `keyword` in the stage (the last wins, as in Docker). */
function last(stage: Instruction[], keyword: string): string {
  const found = stage.filter((i) => i.keyword === keyword).at(-1);
  assert.ok(found, `the final stage has ${keyword}`);
  return found.rest;
}

/** An exec-form (JSON array) instruction argument; the shell form would bypass the init process. */
function execForm(rest: string, keyword: string): string[] {
  const parsed: unknown = JSON.parse(rest);
  assert.ok(
    Array.isArray(parsed) && parsed.every((part) => typeof part === 'string'),
    `${keyword} is in exec form (a JSON array of strings): ${rest}`,
  );
  return parsed as string[];
}

/** The port of a `host:port` address. */
function portOf(address: string): number {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  assert.ok(Number.isInteger(port) && port > 0, `${address} ends in a port`);
  return port;
}

/** The manifests of one kind (at least one must exist). */
function ofKind<T extends Manifest>(kind: string): T[] {
  const found = manifests.filter((m) => m.kind === kind) as T[];
  assert.ok(found.length > 0, `deploy/k8s has a ${kind}`);
  return found;
}

/** True when every label the selector asks for is on the pods. */
function selects(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const manifests = loadManifests();
const dockerfileText = readFileSync(DOCKERFILE_PATH, 'utf8');
const stage = finalStage(parseDockerfile(dockerfileText));
const imageEnv = dockerEnv(stage);
const entrypoint = execForm(last(stage, 'ENTRYPOINT'), 'ENTRYPOINT');
const cmd = execForm(last(stage, 'CMD'), 'CMD');

const deployment = ofKind<Deployment>('Deployment')[0]!;
const pod = deployment.spec.template;
const container = pod.spec.containers[0]!;
/** The container's plain env values (those not from a Secret). */
const podEnv: Record<string, string> = Object.fromEntries(
  (container.env ?? []).flatMap((v) => (v.value === undefined ? [] : [[v.name, v.value]])),
);
const metricsPort = container.ports?.find((p) => p.name === 'metrics');
const scaledObject = ofKind<ScaledObject>('ScaledObject')[0]!;

/** A probe's or Service's port, a name resolved through the container's ports. */
function resolvePort(port: number | string): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;
}

test('every MULTITASK_* variable in the Dockerfile, the manifests and the guide is a setting', () => {
  const sources: Array<[string, string]> = [
    ['deploy/Dockerfile', dockerfileText],
    ['docs/deploy.md', readFileSync(DOCS_PATH, 'utf8')],
    ...readdirSync(K8S_DIR).map((f): [string, string] => [f, readFileSync(join(K8S_DIR, f), 'utf8')]),
  ];
  for (const [file, text] of sources) {
    for (const [name] of text.matchAll(/\bMULTITASK_[A-Z0-9_]+\b/g)) {
      assert.ok(ENV_NAMES.includes(name), `${file} names ${name}, which is not in ENV_NAMES`);
    }
  }
  for (const v of container.env ?? []) {
    if (v.name.startsWith('MULTITASK_')) assert.ok(ENV_NAMES.includes(v.name), v.name);
  }
});

test('the probes ask for the liveness and readiness routes on the metrics port', () => {
  assert.equal(container.livenessProbe?.httpGet?.path, ROUTES.health);
  assert.equal(container.readinessProbe?.httpGet?.path, ROUTES.ready);
  assert.ok(metricsPort, 'the container declares a port named metrics');
  for (const probe of [container.livenessProbe, container.readinessProbe]) {
    assert.ok(probe?.httpGet, 'an httpGet probe');
    assert.equal(resolvePort(probe.httpGet.port), metricsPort.containerPort);
  }
});

test('one port everywhere: MULTITASK_HTTP, containerPort, EXPOSE, HEALTHCHECK, scrape and Service', () => {
  const port = metricsPort?.containerPort;
  assert.ok(port, 'the container declares a port named metrics');
  for (const [where, address] of [
    ['the Deployment', podEnv.MULTITASK_HTTP],
    ['the Dockerfile', imageEnv.MULTITASK_HTTP],
  ] as const) {
    assert.ok(address, `${where} sets MULTITASK_HTTP`);
    assert.equal(portOf(address), port, `${where}'s MULTITASK_HTTP port`);
    // The command's default is loopback, which neither the kubelet nor Prometheus can reach.
    assert.ok(address.startsWith('0.0.0.0:'), `${where} listens on every interface: ${address}`);
  }
  assert.deepEqual(last(stage, 'EXPOSE').split(/\s+/), [String(port)]);
  const healthcheck = last(stage, 'HEALTHCHECK').match(/http:\/\/127\.0\.0\.1:(\d+)(\/[\w/-]*)/);
  assert.ok(healthcheck, 'HEALTHCHECK fetches a loopback URL');
  assert.equal(Number(healthcheck[1]), port, 'HEALTHCHECK port');
  assert.equal(healthcheck[2], ROUTES.health, 'HEALTHCHECK path');
  assert.equal(pod.metadata.annotations?.['prometheus.io/port'], String(port));
  assert.equal(pod.metadata.annotations?.['prometheus.io/path'], ROUTES.metrics);
  for (const service of manifests.filter((m) => m.kind === 'Service') as Array<
    Manifest & { spec: { ports: Array<{ targetPort: number | string }> } }
  >) {
    for (const p of service.spec.ports) assert.equal(resolvePort(p.targetPort), port, service.file);
  }
});

test('the kubelet waits longer than the grace period before it kills', () => {
  const seconds = pod.spec.terminationGracePeriodSeconds;
  assert.ok(seconds !== undefined, 'terminationGracePeriodSeconds is set');
  const graceMs = Number(podEnv.MULTITASK_GRACE_MS ?? DEFAULT_GRACE_MS);
  assert.ok(Number.isFinite(graceMs), `MULTITASK_GRACE_MS is a number: ${podEnv.MULTITASK_GRACE_MS}`);
  assert.ok(seconds * 1000 > graceMs, `${seconds} s > MULTITASK_GRACE_MS ${graceMs} ms`);
  assert.ok(seconds * 1000 > DEFAULT_GRACE_MS, `${seconds} s > the default grace ${DEFAULT_GRACE_MS} ms`);
});

test("the example broker URL is a list of the RabbitMQ cluster's nodes, and multitask reads it", () => {
  const secret = ofKind<Secret>('Secret').find((s) => s.metadata.name === 'multitask-amqp');
  const url = secret?.stringData?.url;
  assert.ok(url, 'secret.example.yaml has the url key');
  const location = parseQueueUrl(url);
  assert.equal(location.kind, 'amqp');
  assert.ok(location.kind === 'amqp' && location.nodes.length === 3, 'one URL per node of a 3-node cluster');
  assert.ok(!location.safeUrl.includes('CHANGE-ME'), 'logged masked');
});

test('every Secret key the Deployment and KEDA read is in secret.example.yaml', () => {
  const secrets = ofKind<Secret>('Secret');
  const has = ({ name, key }: SecretRef): boolean =>
    secrets.some((s) => s.metadata.name === name && (key in (s.stringData ?? {}) || key in (s.data ?? {})));
  // The URL holds the broker's password: never a plain value in the manifest.
  const url = (container.env ?? []).find((v) => v.name === 'MULTITASK_URL');
  assert.ok(url?.valueFrom?.secretKeyRef, 'MULTITASK_URL comes from a Secret');
  const refs: SecretRef[] = [
    ...(container.env ?? []).flatMap((v) => (v.valueFrom?.secretKeyRef ? [v.valueFrom.secretKeyRef] : [])),
    ...ofKind<TriggerAuthentication>('TriggerAuthentication').flatMap((t) => t.spec.secretTargetRef ?? []),
  ];
  for (const ref of refs) assert.ok(has(ref), `Secret ${ref.name} has key ${ref.key}`);
});

test('the Deployment, PDB and Service select the pods; KEDA scales the Deployment', () => {
  const labels = pod.metadata.labels;
  assert.ok(selects(deployment.spec.selector.matchLabels, labels), 'the Deployment selects its pods');
  for (const pdb of ofKind<Selecting>('PodDisruptionBudget')) {
    const selector = pdb.spec.selector as { matchLabels?: Record<string, string> };
    assert.ok(selects(selector.matchLabels ?? {}, labels), `${pdb.metadata.name} selects the pods`);
  }
  for (const service of manifests.filter((m) => m.kind === 'Service') as Selecting[]) {
    assert.ok(selects(service.spec.selector as Record<string, string>, labels), service.metadata.name);
  }
  assert.equal(scaledObject.spec.scaleTargetRef.name, deployment.metadata.name);
  assert.ok([undefined, 'Deployment'].includes(scaledObject.spec.scaleTargetRef.kind));
  const authNames = ofKind<TriggerAuthentication>('TriggerAuthentication').map((t) => t.metadata.name);
  for (const trigger of scaledObject.spec.triggers) {
    if (trigger.authenticationRef) assert.ok(authNames.includes(trigger.authenticationRef.name));
  }
});

test('the triggers watch the Deployment’s queue, through the management API and known metrics', () => {
  const queue = podEnv.MULTITASK_QUEUE;
  assert.ok(queue, 'the Deployment sets MULTITASK_QUEUE');
  const rabbit = scaledObject.spec.triggers.find((t) => t.type === 'rabbitmq');
  assert.ok(rabbit, 'a rabbitmq trigger');
  assert.equal(rabbit.metadata.queueName, queue);
  assert.equal(rabbit.metadata.mode, 'QueueLength');
  // Over AMQP KEDA counts ready messages only; the management API adds the unacknowledged ones.
  assert.equal(rabbit.metadata.protocol, 'http');

  const prometheus = scaledObject.spec.triggers.find((t) => t.type === 'prometheus');
  assert.ok(prometheus, 'a prometheus trigger');
  const query = prometheus.metadata.query ?? '';
  const known: string[] = Object.values(METRIC);
  // Every selector's metric (`name{...}`) and every multitask_* word, so a typo in either fails.
  const names = [
    ...[...query.matchAll(/([A-Za-z_:][\w:]*)\s*\{/g)].map((m) => m[1]!),
    ...[...query.matchAll(/\bmultitask_\w+/g)].map((m) => m[0]),
  ];
  for (const name of names) {
    assert.ok(known.includes(name), `the query names ${name}, which is not in METRIC`);
  }
  assert.ok(query.includes(`max(${METRIC.queueReady}{queue="${queue}"})`), `ready, once: ${query}`);
  assert.ok(query.includes(`sum(${METRIC.queueUnacked}{queue="${queue}"})`), `unacked, every pod: ${query}`);
});

test('the image runs `work` from the package bin, under an init process, as a non-root user', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    bin?: Record<string, string>;
  };
  const bin = pkg.bin?.multitask;
  assert.ok(bin, 'package.json has bin.multitask');
  assert.deepEqual(cmd, ['node', posix.normalize(bin), 'work']);

  const app = imageEnv.MULTITASK_APP;
  assert.ok(app, 'the image sets MULTITASK_APP');
  assert.ok(existsSync(join(ROOT, app)), `${app} exists`);
  const copied = stage.filter((i) => i.keyword === 'COPY').map((i) => i.rest.split(/\s+/).at(-2) ?? '');
  assert.ok(
    copied.some((source) => app.startsWith(`${posix.normalize(source)}/`)),
    `the final stage copies ${app}`,
  );

  assert.ok(['tini', 'dumb-init'].includes(posix.basename(entrypoint[0] ?? '')), `init: ${entrypoint}`);
  assert.ok(
    stage.some((i) => i.keyword === 'RUN' && i.rest.includes(posix.basename(entrypoint[0]!))),
    'the final stage installs it',
  );
  assert.deepEqual(container.command, entrypoint, 'the Deployment runs the same ENTRYPOINT');
  assert.deepEqual(container.args, cmd, 'and the same CMD');

  const user = last(stage, 'USER');
  assert.ok(!/^(root|0)(:|$)/.test(user), `the image's USER (${user}) is not root`);
  const security = pod.spec.securityContext;
  assert.equal(security?.runAsNonRoot, true);
  // A user name cannot be checked by the kubelet against runAsNonRoot: a uid must be given.
  if (!/^\d+/.test(user)) assert.ok((security?.runAsUser ?? 0) > 0, 'runAsUser is a non-root uid');
});

/** A TCP port nobody listens on right now (the OS picks it). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

/** The HTTP status of `url`, or 0 when nothing answers (yet). */
async function statusOf(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'multitask-deploy-'));
let child: ChildProcess | undefined;
after(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

test('the image command turns live and ready, and exits 0 on SIGTERM', async () => {
  const script = cmd[1]!;
  assert.ok(existsSync(join(ROOT, script)), `${script} exists (npm run build)`);
  const port = await freePort();
  // What the container would run with: the image's ENV, the Deployment's plain values, then a
  // loopback listener on a free port and a throwaway SQLite queue instead of the broker.
  child = spawn(process.execPath, cmd.slice(1), {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      ...imageEnv,
      ...podEnv,
      MULTITASK_HTTP: `127.0.0.1:${port}`,
      MULTITASK_URL: `sqlite:${join(scratch, 'q.db')}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

  const base = `http://127.0.0.1:${port}`;
  const paths = [container.livenessProbe?.httpGet?.path, container.readinessProbe?.httpGet?.path];
  const deadline = Date.now() + 30_000;
  let statuses: number[] = [];
  while (Date.now() < deadline && child.exitCode === null) {
    statuses = await Promise.all(paths.map((path) => statusOf(`${base}${path}`)));
    if (statuses.every((status) => status === 200)) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.deepEqual(statuses, [200, 200], `${paths.join(' and ')} answer 200; output:\n${output}`);

  child.kill('SIGTERM');
  // A guard, not a timing assertion: a process that ignores SIGTERM fails here instead of hanging.
  const guard = setTimeout(() => child?.kill('SIGKILL'), 30_000);
  const [code, signal] = await exited;
  clearTimeout(guard);
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `exit on SIGTERM; output:\n${output}`);
});
