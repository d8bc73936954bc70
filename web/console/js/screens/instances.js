// Running apps (SPEC 1 step 8, "verify and monitor"): every app instance of the account with its
// app, build, node, status and certificate. The API has no account-wide instance list, so the
// screen asks each build for its deployments (GET /v1/builds/deployments/{id}) and joins the
// app certificates by certificate_id.
import {
  h, append, replace, field, table, emptyState, pageHeader, linkButton, badge, fmtTime, errorBox,
} from '../ui.js';

// Appends children (nodes, arrays, or null for nothing) to view.
function show(view, ...children) {
  return append(view, children);
}

const PARALLEL = 6; // deployment requests in flight at once: enough to be quick, not a flood

function link(hash, id, text, attrs = {}) {
  return h('a', { href: hash + encodeURIComponent(id), ...attrs }, text);
}

// Runs fn over items at most PARALLEL at a time; results in the items' order.
async function mapLimited(items, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return results;
}

// The builds that may have instances: with stopped ones hidden, only those the manager counts
// as running (deployment_status.count uses the same rule as the deployments list); otherwise
// every build that got past conversion (instances need a measured, approved build).
function candidateBuilds(builds, showStopped) {
  if (!showStopped) return builds.filter((b) => b.deployment_status && b.deployment_status.count > 0);
  return builds.filter((b) => b.enclave_info && b.enclave_info.mrenclave);
}

async function loadInstances(ctx, showStopped) {
  const [builds, certs] = await Promise.all([
    ctx.api.get('/builds', { limit: 1000 }),
    ctx.api.get('/certificates', { kind: 'APP', limit: 1000 }),
  ]);
  const buildById = new Map(builds.items.map((b) => [b.build_id, b]));
  const certById = new Map(certs.items.map((c) => [c.certificate_id, c]));
  const lists = await mapLimited(candidateBuilds(builds.items, showStopped), (b) =>
    ctx.api.get('/builds/deployments/' + encodeURIComponent(b.build_id), { limit: 1000 })
      .then((l) => l.items).catch((e) => (e.status === 404 ? [] : Promise.reject(e))));
  let instances = lists.flat();
  if (!showStopped) instances = instances.filter((i) => i.status.status === 'RUNNING');
  // Certificates older than the newest 1000 are fetched one by one.
  const missing = [...new Set(instances.map((i) => i.certificate_id)
    .filter((id) => id && !certById.has(id)))];
  await mapLimited(missing, (id) => ctx.api.get('/certificates/' + encodeURIComponent(id))
    .then((c) => certById.set(id, c)).catch(() => null));
  instances.sort((a, b) => statusRank(a) - statusRank(b) ||
    String(b.status.attested_at).localeCompare(String(a.status.attested_at)));
  return { instances, buildById, certById, buildCount: builds.metadata.total_count };
}

function statusRank(instance) {
  return instance.status.status === 'RUNNING' ? 0 : 1;
}

function imageTag(build) {
  const d = (build && build.docker_info) || {};
  if (!d.docker_image_name) return null;
  return d.docker_image_name + (d.docker_version ? ':' + d.docker_version : '');
}

function buildCell(instance, build) {
  const measurement = build && build.enclave_info && build.enclave_info.mrenclave;
  return h('div', {},
    link('#/builds/', instance.build_id, imageTag(build) || instance.build_id.slice(0, 8)),
    measurement
      ? h('div', { class: 'help mono', title: measurement }, measurement.slice(0, 16) + '…') : null);
}

function certificateCell(instance, cert) {
  if (!instance.certificate_id) return '—';
  if (!cert) return link('#/certificates/', instance.certificate_id, 'Certificate');
  const expired = cert.status === 'EXPIRED' || new Date(cert.valid_until).getTime() < Date.now();
  return h('div', {},
    link('#/certificates/', cert.certificate_id, ['valid until ', fmtTime(cert.valid_until)]),
    cert.status === 'REVOKED' ? [' ', badge('REVOKED')] : expired ? [' ', badge('EXPIRED')] : null);
}

function columns(data) {
  return [
    { label: 'App', value: (i) => link('#/apps/', i.app_id, i.app_name || i.app_id) },
    { label: 'Build', value: (i) => buildCell(i, data.buildById.get(i.build_id)) },
    { label: 'Node', value: (i) => link('#/nodes/', i.node_id, i.node_name || i.node_id) },
    { label: 'Status', value: (i) => [badge(i.status.status),
      i.is_debug ? [' ', badge('DEBUG', 'warn')] : null] },
    { label: 'Attested', value: (i) => fmtTime(i.status.attested_at) },
    { label: 'Certificate', value: (i) => certificateCell(i, data.certById.get(i.certificate_id)) },
  ];
}

function emptyRunning(showStopped) {
  return emptyState(showStopped ? 'No app has run yet.' : 'No app is running.', [
    'Run a converted image on an enrolled node exactly as with any container runtime, with the ' +
    'node agent\'s address in its environment: ',
    h('code', {}, 'docker run -e NODE_AGENT_BASE_URL=http://<node-ip>:9092/v1/ <output image>:<tag>'),
    '. At start the runtime in the image proves itself through the agent, gets its certificate ' +
    'and key, and only then starts the app; it is listed here from then on. An image or domain ' +
    'that is not approved yet gets no certificate (see Tasks).',
  ], h('div', { class: 'actions center' }, linkButton('#/nodes', 'Compute nodes', 'secondary'),
    linkButton('#/builds', 'Images', 'secondary'), linkButton('#/tasks?status=INPROGRESS', 'Pending tasks',
      'secondary')));
}

async function renderInstances(view, ctx) {
  const stopped = field({ label: 'Show stopped instances', name: 'show_stopped', type: 'checkbox' });
  const body = h('div', {});
  const summary = h('p', { class: 'help', role: 'status' });
  let sequence = 0;
  const load = async () => {
    const mine = ++sequence;
    const showStopped = stopped.control.checked;
    let data;
    try {
      data = await loadInstances(ctx, showStopped);
    } catch (error) {
      if (mine === sequence) replace(body, errorBox(error));
      return;
    }
    if (mine !== sequence) return; // a newer load (the checkbox changed) wins
    const running = data.instances.filter((i) => i.status.status === 'RUNNING').length;
    const stoppedCount = data.instances.length - running;
    replace(summary, `${running} running` + (showStopped ? `, ${stoppedCount} stopped` : ''));
    replace(body, table({
      caption: 'App instances', items: data.instances, columns: columns(data),
      empty: emptyRunning(showStopped),
    }));
  };
  stopped.control.addEventListener('change', load);
  show(view,
    pageHeader('Running apps'),
    h('p', { class: 'help' }, 'Each row is an app instance that proved itself through a node\'s agent and ' +
      'received a certificate. An instance is stopped when its node stops reporting it.'),
    h('form', { class: 'filters', on: { submit: (e) => e.preventDefault() } }, stopped),
    summary, body);
  await load();
  return { refresh: load };
}

export const routes = [
  { path: '/instances', title: 'Running apps', needsAccount: true, render: renderInstances },
];
