// Compute nodes: the list (online/offline at a glance), enrolling a node (SPEC 1 step 6: a join
// token and the exact cloister-agent command to run with it) and one node's page with its
// certificate, its app instances, editing and deactivation.
import {
  h, append, replace, field, form, value, table, emptyState, pageHeader, linkButton, button, badge,
  copyable, confirmAction, download, toast, fmtTime, fmtAgo, details, errorBox, errorText,
  paging, runConfirmedAction,
} from '../ui.js';

// Appends children (nodes, arrays, or null for nothing) to view.
function show(view, ...children) {
  return append(view, children);
}

const STATUS_WORDS = { RUNNING: 'online', STOPPED: 'offline' };
const AGENT_PORT = 9092;
const AGENT_STATE_DIR = '/var/lib/cloister-agent';

// ---- small pieces shared by the screens ----

function nodeHref(id) {
  return '#/nodes/' + encodeURIComponent(id);
}

function statusOf(node) {
  return (node.status && node.status.status) || 'UNKNOWN';
}

// RUNNING (online), STOPPED (offline): the badge says both, the API word and what it means.
function statusBadge(status) {
  const word = STATUS_WORDS[status];
  return badge(word ? `${status} · ${word}` : status, badgeKind(status));
}

function badgeKind(status) {
  return { RUNNING: 'ok', STOPPED: 'muted', DEACTIVATED: 'bad' }[status];
}

// The attestation type; simulated evidence proves nothing, so SIM is always flagged INSECURE.
function platformCell(type) {
  if (type === 'SIM') return h('span', {}, 'SIM ', badge('INSECURE', 'bad'));
  return type || '—';
}

// "12 s ago", with the exact time as tooltip.
function lastSeen(iso) {
  if (!iso) return 'never';
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString() }, fmtAgo(iso));
}

// Errors of a button's action go right next to it.
function inlineError() {
  return h('span', { class: 'form-error', role: 'alert' });
}

function nodeColumns() {
  return [
    { label: 'Name', value: (n) => h('a', { href: nodeHref(n.node_id) }, n.name) },
    { label: 'IP address', value: (n) => h('span', { class: 'mono' }, n.ipaddress || '—') },
    { label: 'Status', value: (n) => statusBadge(statusOf(n)) },
    { label: 'Platform', value: (n) => platformCell(n.attestation_type) },
    { label: 'TCB status', value: (n) => n.tcb_status || '—' },
    { label: 'Agent version', value: (n) => n.agent_version || '—' },
    { label: 'Last seen', value: (n) => lastSeen(n.status && n.status.last_seen_at) },
  ];
}

// A live table of the account's nodes; returns {node, load(filters)}.
function nodeList(ctx, emptyFor) {
  const node = h('div', { class: 'node-list' });
  let lastFilters = {};
  const pages = paging(() => load(lastFilters));
  const load = async (filters = {}) => {
    if (JSON.stringify(filters) !== JSON.stringify(lastFilters)) pages.reset();
    lastFilters = filters;
    let list;
    try {
      list = await ctx.api.get('/nodes', { sort_by: 'name:ASC', ...filters, ...pages.query() });
    } catch (error) {
      replace(node, errorBox(error));
      return;
    }
    replace(node, table({
      caption: 'Compute nodes', items: list.items, columns: nodeColumns(),
      empty: emptyFor(filters, list.metadata),
    }), pages.pagerFor(list));
  };
  return { node, load };
}

// ---- list ----

function listEmpty(ctx) {
  return (filters, metadata) => {
    if (metadata && metadata.total_count > 0) {
      return emptyState('No node matches these filters.',
        'Clear the status filter or the search to see all ' + metadata.total_count + ' nodes.');
    }
    return emptyState('No compute nodes yet.',
      'Enroll a node: generate a join token (Enroll a node), then start cloister-agent with it on the ' +
      'machine that will run your confidential apps. The node appears here as soon as it has enrolled.' +
      (ctx.can('WRITER') ? '' : ' Generating join tokens needs the WRITER role.'),
      ctx.can('WRITER') ? linkButton('#/nodes/enroll', 'Enroll a node') : null);
  };
}

async function renderList(view, ctx) {
  const status = field({
    label: 'Status', name: 'status', type: 'select', value: '',
    options: [['', 'All'], ['RUNNING', 'RUNNING (online)'], ['STOPPED', 'STOPPED (offline)'],
      ['DEACTIVATED', 'DEACTIVATED']],
  });
  const search = field({
    label: 'Search', name: 'all_search', type: 'search', placeholder: 'name, IP, host id',
  });
  const filters = () => ({ status: status.control.value, all_search: search.control.value.trim() });
  const list = nodeList(ctx, listEmpty(ctx));
  const reload = () => list.load(filters());
  status.control.addEventListener('change', reload);
  let timer = null;
  search.control.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 300);
  });
  show(view,
    pageHeader('Compute nodes', ctx.can('WRITER') ? linkButton('#/nodes/enroll', 'Enroll a node') : null),
    h('p', { class: 'help' }, 'Nodes run the cloister-agent, which attests the apps on the node and gets ' +
      'their certificates. A node is online while it checks in; after three missed check-ins it is ' +
      'shown offline.'),
    h('form', { class: 'filters', role: 'search', on: { submit: (e) => e.preventDefault() } },
      status, search),
    list.node);
  await reload();
  return { refresh: reload };
}

// ---- enroll ----

// The command to run on the node, exactly; every value in it is shell-safe (URL origin, base64url).
function agentCommand(token) {
  return [
    'cloister-agent --manager ' + location.origin,
    '  --join-token ' + token,
    '  --state-dir ' + AGENT_STATE_DIR,
    '  --listen 0.0.0.0:' + AGENT_PORT,
    '  --ca-file manager.pem',
  ].join(' \\\n');
}

function tokenResult(answer, zoneName) {
  return h('section', { class: 'panel token-result', 'aria-labelledby': 'token-heading' },
    h('h2', { id: 'token-heading' }, 'Join token for zone ' + zoneName),
    h('p', { class: 'notice' }, 'The token is shown only once: the manager keeps only its hash. ' +
      'Copy it now.'),
    copyable(answer.token, 'join token'),
    details([
      ['Expires', fmtTime(answer.expires_at)],
      ['Uses', `${answer.uses} enrollment${answer.uses === 1 ? '' : 's'}`],
    ]),
    h('h3', {}, 'Run on the node'),
    h('p', {}, 'First copy the certificate the manager uses for HTTPS to the node as ',
      h('code', {}, 'manager.pem'),
      ': for the manager\'s own self-signed certificate that is ', h('code', {}, 'DATA_DIR/tls/server.crt'),
      ' on the manager\'s host. (If the manager\'s certificate comes from a CA the node already trusts, ' +
      'leave out ', h('code', {}, '--ca-file'), '.) Then start the agent:'),
    copyable(agentCommand(answer.token), 'agent command'),
    h('p', { class: 'help' }, 'The --manager URL is the address this console was opened at; if the node ' +
      'reaches the manager at another address, use that one (it must match the manager\'s certificate).'),
    h('p', { class: 'help' }, 'Add ', h('code', {}, '--name NAME'), ' to choose the node\'s name ' +
      '(default: its host name). The agent serves apps on port ' + AGENT_PORT + ' (run them with ' +
      `NODE_AGENT_BASE_URL=http://<node-ip>:${AGENT_PORT}/v1/) and keeps its keys in ` + AGENT_STATE_DIR +
      '; the token is needed only for this first start.'));
}

function zoneLabel(zone) {
  return zone.name + (zone.description ? ' — ' + zone.description : '');
}

// The zone CA: what apps' clients trust to check the certificates issued in the zone.
// zoneSelect: the control naming the zone; shown here when the token form does not show it.
function zoneCaPanel(ctx, zoneSelect, showSelect) {
  const error = inlineError();
  const fetchCa = async () => {
    replace(error);
    try {
      const pem = await ctx.api.text('/zones/' + encodeURIComponent(zoneSelect.value) + '/ca');
      download('zone-ca.pem', pem, 'application/x-pem-file');
    } catch (e) {
      replace(error, errorText(e));
    }
  };
  return h('section', { class: 'panel', 'aria-labelledby': 'zone-ca-heading' },
    h('h2', { id: 'zone-ca-heading' }, 'Zone certificate authority'),
    h('p', {}, 'Clients of your apps check the apps\' certificates against the CA chain of the zone ' +
      '(issuing CA, then root). Download it to install it where those clients run.'),
    showSelect ? h('div', { class: 'field' }, h('label', { for: 'ca-zone' }, 'Zone'), zoneSelect) : null,
    h('div', { class: 'actions' }, button('Download zone CA', fetchCa), error));
}

function tokenForm(ctx, zones, onToken) {
  const preferred = zones.find((z) => z.name === 'default') || zones[0];
  const zoneField = field({
    label: 'Zone', name: 'zone_id', type: 'select', required: true, value: preferred && preferred.zone_id,
    options: zones.map((z) => [z.zone_id, zoneLabel(z)]),
    help: 'The node joins this zone and gets its node certificate from the zone\'s CA.',
  });
  const tokenForm = form({
    fields: [
      zoneField,
      field({
        label: 'Token lifetime (seconds)', name: 'ttl', type: 'number', value: 600, min: 60, max: 2592000,
        required: true, help: 'From 60 s to 30 days; the agent must enroll before the token expires.',
      }),
      field({
        label: 'Uses', name: 'uses', type: 'number', value: 1, min: 1, max: 1000, required: true,
        help: 'How many nodes may enroll with this token (1 to 1000).',
      }),
    ],
    submitLabel: 'Generate join token',
    onSubmit: async (f) => {
      const zoneId = value(f, 'zone_id');
      const answer = await ctx.api.get('/zones/' + encodeURIComponent(zoneId) + '/token',
        { ttl: value(f, 'ttl'), uses: value(f, 'uses') });
      const zone = zones.find((z) => z.zone_id === zoneId);
      onToken(answer, zone ? zone.name : zoneId);
    },
  });
  return { node: tokenForm, zoneSelect: zoneField.control };
}

async function renderEnroll(view, ctx) {
  const zones = (await ctx.api.get('/zones', { limit: 1000, sort_by: 'name:ASC' })).items;
  const result = h('div', { 'aria-live': 'polite' });
  const list = nodeList(ctx, () => emptyState('No node has enrolled yet.',
    'Once the agent starts with the token, the node appears here within a few seconds.'));
  show(view, pageHeader('Enroll a node', linkButton('#/nodes', 'All nodes', 'secondary')));
  if (!zones.length) {
    show(view, emptyState('This account has no zone.', 'Every account gets a zone named "default" ' +
      'when it is created; ask a system administrator.'));
    return null;
  }
  show(view, h('p', {}, 'Enrolling a node takes two steps: generate a join token here, then start ' +
    'cloister-agent with it on the node. The agent proves the node\'s identity to the manager and ' +
    'receives a node certificate; the node then appears in the list below.'));
  if (ctx.can('WRITER')) {
    const tf = tokenForm(ctx, zones, (answer, zoneName) => {
      replace(result, tokenResult(answer, zoneName));
      result.querySelector('h2').scrollIntoView({ block: 'nearest' });
    });
    show(view, h('section', { class: 'panel', 'aria-labelledby': 'token-form-heading' },
      h('h2', { id: 'token-form-heading' }, 'Generate a join token'), tf.node), result,
    zoneCaPanel(ctx, tf.zoneSelect));
  } else {
    const zoneSelect = h('select', { id: 'ca-zone' },
      zones.map((z) => h('option', { value: z.zone_id, selected: z.name === 'default' }, zoneLabel(z))));
    show(view, h('p', { class: 'notice' }, 'Generating join tokens needs the WRITER role in this account.'),
      zoneCaPanel(ctx, zoneSelect, true));
  }
  show(view, h('h2', {}, 'Nodes'), list.node);
  await list.load();
  return { refresh: () => list.load() };
}

// ---- one node ----

function instanceColumns(apps) {
  return [
    { label: 'App', value: (i) => h('a', { href: '#/apps/' + encodeURIComponent(i.app_id) },
      apps.get(i.app_id) || i.app_id) },
    { label: 'Build', value: (i) => h('a',
      { href: '#/builds/' + encodeURIComponent(i.build_id), class: 'mono' }, i.build_id.slice(0, 8)) },
    { label: 'Status', value: (i) => [badge(i.status.status),
      i.is_debug ? [' ', badge('DEBUG', 'warn')] : null] },
    { label: 'Attested', value: (i) => fmtTime(i.status.attested_at) },
    { label: 'Status changed', value: (i) => fmtTime(i.status.status_updated_at) },
    { label: 'Certificate', value: (i) => i.certificate_id
      ? h('a', { href: '#/certificates/' + encodeURIComponent(i.certificate_id) }, 'Certificate') : '—' },
  ];
}

function labelsText(labels) {
  const entries = Object.entries(labels || {});
  if (!entries.length) return '—';
  return h('ul', { class: 'plain' }, entries.map(([k, v]) => h('li', { class: 'mono' }, k + '=' + v)));
}

function nodeDetails(node, zone) {
  const status = statusOf(node);
  return details([
    ['Status', statusBadge(status)],
    ['Last seen', node.status.last_seen_at ? [lastSeen(node.status.last_seen_at), ' (',
      fmtTime(node.status.last_seen_at), ')'] : 'never'],
    ['Node ID', h('span', { class: 'mono' }, node.node_id)],
    ['Description', node.description || '—'],
    ['IP address', h('span', { class: 'mono' }, node.ipaddress || '—')],
    ['Host ID', h('span', { class: 'mono' }, node.host_id || '—')],
    ['Zone', zone ? zone.name + ' (' + node.zone_id + ')' : node.zone_id],
    ['Account', h('span', { class: 'mono' }, node.acct_id)],
    ['Platform (attestation)', platformCell(node.attestation_type)],
    ['TCB status', node.tcb_status || '—'],
    ['Agent version', node.agent_version || '—'],
    ['Labels', labelsText(node.labels)],
    ['Certificate serial', h('span', { class: 'mono' }, node.cert_serial || '—')],
    ['Enrolled', fmtTime(node.created_at)],
    ['Updated', fmtTime(node.updated_at)],
  ]);
}

function certificatePanel(node, cert) {
  if (!cert) return emptyState('No certificate.', 'The node has no current node certificate.');
  const pem = cert.certificate || node.certificate;
  return [
    details([
      ['Subject', h('span', { class: 'mono' }, cert.subject)],
      ['Status', badge(cert.status)],
      ['Valid from', fmtTime(cert.valid_from)],
      ['Valid until', fmtTime(cert.valid_until)],
      ['Serial', h('span', { class: 'mono' }, cert.serial)],
      cert.revoked_at ? ['Revoked', fmtTime(cert.revoked_at)] : null,
      ['Details', h('a', { href: '#/certificates/' + encodeURIComponent(cert.certificate_id) },
        'Certificate page')],
    ]),
    pem ? h('div', { class: 'actions' }, button('Download PEM', () =>
      download((node.name || 'node').replace(/[^A-Za-z0-9._-]/g, '_') + '-node.pem', pem,
        'application/x-pem-file'))) : null,
  ];
}

function instancesPanel(node, apps) {
  return table({
    caption: 'App instances on this node', items: node.instances || [], columns: instanceColumns(apps),
    empty: emptyState('No app has run on this node yet.',
      'Run a converted, approved image on the node with NODE_AGENT_BASE_URL=http://' +
      (node.ipaddress || '<node-ip>') + ':' + AGENT_PORT + '/v1/; once it has attested it is listed here.',
      linkButton('#/instances', 'Running apps', 'secondary')),
  });
}

function editForm(ctx, node, onSaved) {
  return form({
    fields: [
      field({ label: 'Name', name: 'name', value: node.name, required: true }),
      field({
        label: 'Description', name: 'description', type: 'textarea', rows: 2, value: node.description || '',
      }),
    ],
    submitLabel: 'Save',
    onSubmit: async (f) => {
      const saved = await ctx.api.patch('/nodes/' + encodeURIComponent(node.node_id),
        { name: value(f, 'name'), description: value(f, 'description') });
      toast('Node saved.');
      onSaved(saved);
    },
  });
}

// Deactivation: confirmed, its error shown in error (next to the button, kept when the button
// goes). current() is the node as last loaded.
function deactivateButton(ctx, current, error, onDone) {
  const run = async (event) => {
    const target = event.currentTarget;
    const node = current();
    replace(error);
    const ok = await confirmAction('Deactivate node ' + node.name + '?',
      'Deactivating revokes the node\'s certificate and those of its apps. The node can no longer ' +
      'check in or get certificates; this cannot be undone (enroll it again with a new token).',
      'Deactivate');
    if (!ok) return;
    await runConfirmedAction(target, error,
      () => ctx.api.post('/nodes/' + encodeURIComponent(node.node_id) + '/deactivate'),
      'Node deactivated.', onDone);
  };
  return button('Deactivate', run, 'danger');
}

async function appNames(ctx) {
  const names = new Map();
  try {
    for (const a of (await ctx.api.get('/apps', { limit: 1000 })).items) names.set(a.app_id, a.name);
  } catch (e) {
    // Names are a convenience: the links still work with the ids.
  }
  return names;
}

async function loadCertificate(ctx, id) {
  try {
    return await ctx.api.get('/nodes/' + encodeURIComponent(id) + '/certificate');
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

async function renderNode(view, ctx, params) {
  const id = params.id;
  let node = await ctx.api.get('/nodes/' + encodeURIComponent(id));
  const zone = await ctx.api.get('/zones/' + encodeURIComponent(node.zone_id)).catch(() => null);
  let apps = await appNames(ctx);
  const title = h('h1', { tabindex: '-1' }, node.name);
  const crumb = h('span', {}, node.name);
  const deactivateError = inlineError();
  const deactivateSlot = h('span', {});
  const actions = h('div', { class: 'page-actions inline-action' }, deactivateSlot, deactivateError);
  const summary = h('div', {});
  const certBox = h('div', {});
  const instBox = h('div', {});
  const canWrite = ctx.can('WRITER');
  let shownStatus = null;

  const draw = async () => {
    const cert = await loadCertificate(ctx, id);
    if ((node.instances || []).some((i) => !apps.has(i.app_id))) apps = await appNames(ctx);
    replace(title, node.name);
    replace(crumb, node.name);
    replace(summary, nodeDetails(node, zone));
    replace(certBox, certificatePanel(node, cert));
    replace(instBox, instancesPanel(node, apps));
    // The button is redrawn only when the status changes (keeping focus on it otherwise).
    if (statusOf(node) !== shownStatus) {
      shownStatus = statusOf(node);
      replace(deactivateSlot, canWrite && shownStatus !== 'DEACTIVATED'
        ? deactivateButton(ctx, () => node, deactivateError, reload) : null);
    }
  };
  const reload = async () => {
    node = await ctx.api.get('/nodes/' + encodeURIComponent(id));
    await draw();
  };

  show(view,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/nodes' }, 'Compute nodes'), ' / ', crumb),
    h('div', { class: 'page-header' }, title, actions),
    h('section', { class: 'panel' }, summary),
    h('h2', {}, 'Node certificate'), h('section', { class: 'panel' }, certBox),
    h('h2', {}, 'App instances'), instBox,
    canWrite ? [h('h2', {}, 'Edit'), h('section', { class: 'panel' }, editForm(ctx, node, (saved) => {
      node = { ...node, ...saved };
      draw();
    }))] : null);
  await draw();
  return { refresh: reload };
}

export const routes = [
  { path: '/nodes', title: 'Compute nodes', needsAccount: true, render: renderList },
  { path: '/nodes/enroll', title: 'Enroll a node', needsAccount: true, render: renderEnroll },
  { path: '/nodes/:id', title: 'Compute node', needsAccount: true, render: renderNode },
];
