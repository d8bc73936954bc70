// Dashboard: the selected account at a glance — counts that link to their screens, the pending
// tasks, the nodes, an INSECURE warning when simulation is allowed and a getting-started
// checklist for a new account. Everything updates live.
import { h, table, emptyState, pageHeader, linkButton, badge, fmtAgo, errorBox, replace } from '../ui.js';

// One card per count; `sub` is an optional second line ("of N").
function card(id, href, count, label, sub) {
  return h('a', { class: 'card', href, id: 'card-' + id },
    h('span', { class: 'count' }, String(count)),
    h('span', { class: 'label' }, label),
    sub ? h('span', { class: 'label card-sub' }, sub) : null);
}

// Everything the dashboard shows, fetched in parallel; limit=1 is enough where only the list
// metadata (total_count, filtered_count) is needed.
async function load(api) {
  const [apps, builds, pending, succeeded, nodes, running, certs, allTasks, instances] = await Promise.all([
    api.get('/apps', { limit: 1 }),
    api.get('/builds', { status: 'WHITELISTED', limit: 1 }),
    api.get('/tasks', { status: 'INPROGRESS', limit: 5 }),
    api.get('/tasks', { status: 'SUCCESS', limit: 1 }),
    api.get('/nodes', { limit: 5 }),
    api.get('/nodes', { status: 'RUNNING', limit: 1 }),
    api.get('/certificates', { status: 'ISSUED', limit: 1 }),
    api.get('/tasks', { limit: 1 }),
    api.get('/instances', { status: 'RUNNING', limit: 1 }),
  ]);
  return {
    apps: apps.metadata.total_count,
    images: builds.metadata.total_count,
    whitelisted: builds.metadata.filtered_count,
    pendingCount: pending.metadata.filtered_count,
    pending: pending.items,
    approved: succeeded.metadata.filtered_count,
    tasks: allTasks.metadata.total_count,
    nodesTotal: nodes.metadata.total_count,
    nodes: nodes.items,
    nodesOnline: running.metadata.filtered_count,
    runningApps: instances.metadata.filtered_count,
    certsIssued: certs.metadata.filtered_count,
    certsTotal: certs.metadata.total_count,
  };
}

function cards(d) {
  return h('div', { class: 'cards' },
    card('apps', '#/apps', d.apps, 'Applications'),
    card('images', '#/builds', d.images, 'Images', d.whitelisted + ' approved'),
    card('tasks', '#/tasks?status=INPROGRESS', d.pendingCount, 'Pending tasks'),
    card('nodes', '#/nodes', d.nodesOnline, 'Nodes online', 'of ' + d.nodesTotal + ' nodes'),
    card('running', '#/instances', d.runningApps, 'Running apps'),
    card('certificates', '#/certificates', d.certsIssued, 'Certificates issued',
      d.certsTotal + ' in total'));
}

function pendingTasks(ctx, d) {
  return table({
    caption: 'Pending tasks',
    items: d.pending,
    empty: emptyState('No pending tasks.', 'Tasks appear here when an image or new domains of an ' +
      'application wait for approval.'),
    columns: [
      { label: 'Task',
        value: (t) => h('a', { href: '#/tasks/' + encodeURIComponent(t.task_id) }, t.task_type) },
      { label: 'For', value: (t) => t.entity_name || t.entity_id },
      { label: 'Requested by', value: (t) => (t.requester_info && t.requester_info.user_name) || '—' },
      { label: 'Approvals', value: (t) => (t.approvals || []).filter((a) => a.status === 'APPROVED').length +
        ' of ' + t.approvals_required },
      { label: 'Requested', value: (t) => fmtAgo(t.created_at) },
    ],
  });
}

function nodesList(ctx, d) {
  return table({
    caption: 'Compute nodes',
    items: d.nodes,
    empty: emptyState('No compute nodes yet.', 'Enroll a machine with a join token so that it can ' +
      'run your approved images.',
      ctx.can('WRITER') ? linkButton('#/nodes/enroll', 'Enroll a node') : null),
    columns: [
      { label: 'Name', value: (n) => h('a', { href: '#/nodes/' + encodeURIComponent(n.node_id) }, n.name) },
      { label: 'Status', value: (n) => badge(n.status.status) },
      { label: 'Attestation',
        value: (n) => (n.attestation_type === 'SIM' ? badge('SIM') : n.attestation_type) },
      { label: 'Last seen', value: (n) => fmtAgo(n.status.last_seen_at) },
    ],
  });
}

function insecurePanel(ctx) {
  if (!ctx.account.settings || !ctx.account.settings.allow_simulation) return null;
  return h('section', { class: 'panel insecure-panel', role: 'note', 'aria-labelledby': 'insecure-title' },
    h('h2', { id: 'insecure-title' }, badge('INSECURE'), ' Simulated attestation is allowed'),
    h('p', {}, 'Any machine can enroll as a node with simulated evidence and pretend to run an ' +
      'approved image; certificates it receives prove nothing. Use this only for development.'),
    h('p', {}, ctx.can('MANAGER')
      ? ['Turn "Allow simulated attestation" off in the ',
        h('a', { href: '#/accounts/' + encodeURIComponent(ctx.account.acct_id) }, 'account settings'),
        ' before running real workloads, and re-enroll nodes that used simulation.']
      : 'Ask a MANAGER of the account to turn "Allow simulated attestation" off in the account settings.'));
}

// The steps a new account goes through; each is done when the data shows it.
function checklist(d) {
  const steps = [
    [d.apps > 0, 'Add an application', '#/apps/new', 'describe the container image to run confidentially.'],
    [d.images > 0, 'Create an image', '#/builds/new', 'convert or register a build of the application.'],
    [d.approved > 0 || d.whitelisted > 0, 'Approve tasks', '#/tasks?status=INPROGRESS',
      'an image runs only once enough members approved it.'],
    [d.nodesTotal > 0, 'Enroll a compute node', '#/nodes/enroll', 'a machine that runs approved images.'],
    [d.runningApps > 0, 'Run the image', '#/instances', 'start it on a node; it appears under Running apps.'],
  ];
  const done = steps.filter((s) => s[0]).length;
  if (done === steps.length) return null;
  return h('section', { class: 'panel', 'aria-labelledby': 'start-title', id: 'getting-started' },
    h('h2', { id: 'start-title' }, 'Getting started'),
    h('p', { class: 'muted' }, done + ' of ' + steps.length + ' steps done.'),
    h('ol', { class: 'checklist' }, steps.map(([ok, title, href, text]) =>
      h('li', { class: ok ? 'done' : 'todo' },
        h('span', { class: 'check', 'aria-hidden': 'true' }, ok ? '✓' : '○'),
        h('span', { class: 'visually-hidden' }, ok ? 'Done: ' : 'To do: '),
        h('a', { href }, title), ' — ', text))));
}

async function renderDashboard(view, ctx) {
  const body = h('div', { id: 'dashboard' });
  const draw = (d) => replace(body, cards(d), insecurePanel(ctx), checklist(d),
    h('section', { class: 'panel', 'aria-labelledby': 'pending-title' },
      h('h2', { id: 'pending-title' }, 'Pending tasks'), pendingTasks(ctx, d),
      d.pendingCount > d.pending.length
        ? h('p', {}, h('a', { href: '#/tasks?status=INPROGRESS' },
          'All ' + d.pendingCount + ' pending tasks'))
        : null),
    h('section', { class: 'panel', 'aria-labelledby': 'nodes-title' },
      h('h2', { id: 'nodes-title' }, 'Compute nodes'), nodesList(ctx, d),
      d.nodesTotal > d.nodes.length
        ? h('p', {}, h('a', { href: '#/nodes' }, 'All ' + d.nodesTotal + ' nodes')) : null));
  view.append(pageHeader('Dashboard'),
    h('p', { class: 'muted' }, 'Account "' + ctx.account.name + '"'), body);
  draw(await load(ctx.api));
  let lastKey = null;
  return {
    refresh: async () => {
      try {
        const d = await load(ctx.api);
        // Redraw only on change so that focus and scrolling stay put.
        const key = JSON.stringify(d);
        if (key !== lastKey) draw(d);
        lastKey = key;
      } catch (error) {
        if (error.status !== 401) replace(body, errorBox(error));
        lastKey = null;
      }
    },
  };
}

export const routes = [
  { path: '/dashboard', title: 'Dashboard', needsAccount: true, render: renderDashboard },
];
