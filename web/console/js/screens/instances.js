// Running apps (SPEC 1 step 8, "verify and monitor"): every app instance of the account with its
// app, build, node, status and certificate, a page at a time from GET /v1/instances (one query
// for the whole account; each item carries its image and certificate validity).
import {
  h, append, replace, paging, field, table, emptyState, pageHeader, linkButton, badge, fmtTime,
  errorBox,
} from '../ui.js';

// Appends children (nodes, arrays, or null for nothing) to view.
function show(view, ...children) {
  return append(view, children);
}

function link(hash, id, text, attrs = {}) {
  return h('a', { href: hash + encodeURIComponent(id), ...attrs }, text);
}

// One page, newest attestation first; only the running ones unless stopped ones are asked for.
function loadInstances(ctx, showStopped, pages) {
  return ctx.api.get('/instances', {
    ...(showStopped ? {} : { status: 'RUNNING' }), sort_by: 'attested_at:DESC', ...pages.query(),
  });
}

function imageTag(build) {
  if (!build || !build.docker_image_name) return null;
  return build.docker_image_name + (build.docker_version ? ':' + build.docker_version : '');
}

function buildCell(instance) {
  const build = instance.build;
  const measurement = build && build.mrenclave;
  return h('div', {},
    link('#/builds/', instance.build_id, imageTag(build) || instance.build_id.slice(0, 8)),
    measurement
      ? h('div', { class: 'help mono', title: measurement }, measurement.slice(0, 16) + '…') : null);
}

function certificateCell(instance) {
  const cert = instance.certificate;
  if (!instance.certificate_id) return '—';
  if (!cert) return link('#/certificates/', instance.certificate_id, 'Certificate');
  return h('div', {},
    link('#/certificates/', instance.certificate_id, ['valid until ', fmtTime(cert.valid_until)]),
    cert.status === 'ISSUED' ? null : [' ', badge(cert.status)]);
}

function columns() {
  return [
    { label: 'App', value: (i) => link('#/apps/', i.app_id, i.app_name || i.app_id) },
    { label: 'Build', value: buildCell },
    { label: 'Node', value: (i) => link('#/nodes/', i.node_id, i.node_name || i.node_id) },
    { label: 'Status', value: (i) => [badge(i.status.status),
      i.is_debug ? [' ', badge('DEBUG', 'warn')] : null] },
    { label: 'Attested', value: (i) => fmtTime(i.status.attested_at) },
    { label: 'Certificate', value: certificateCell },
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
  const pages = paging(() => load());
  const load = async () => {
    const mine = ++sequence;
    const showStopped = stopped.control.checked;
    let list;
    try {
      list = await loadInstances(ctx, showStopped, pages);
    } catch (error) {
      if (mine === sequence) replace(body, errorBox(error));
      return;
    }
    if (mine !== sequence) return; // a newer load (the checkbox changed) wins
    const count = list.metadata.filtered_count;
    replace(summary, showStopped ? `${count} instances, running and stopped` : `${count} running`);
    replace(body, table({
      caption: 'App instances', items: list.items, columns: columns(),
      empty: emptyRunning(showStopped),
    }), pages.pagerFor(list));
  };
  stopped.control.addEventListener('change', () => { pages.reset(); load(); });
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
