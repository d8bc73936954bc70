// Certificates: the app and node certificates the zone CAs issued, filtered by kind, status and
// text; one certificate's page with every field, its claims (what the evidence showed), its PEM
// and revocation.
import {
  h, append, replace, pager, field, table, emptyState, pageHeader, button, badge, dialog, download,
  fmtTime, details, errorBox, runConfirmedAction,
} from '../ui.js';

// Appends children (nodes, arrays, or null for nothing) to view.
function show(view, ...children) {
  return append(view, children);
}

const PAGE = 50;

function link(hash, id, text) {
  return h('a', { href: hash + encodeURIComponent(id) }, text);
}

function mono(text) {
  return text ? h('span', { class: 'mono' }, text) : '—';
}

// Names of the account's apps and nodes for the links (ids when a lookup fails).
async function names(ctx) {
  const [apps, nodes] = await Promise.all([
    ctx.api.get('/apps', { limit: 1000 }).catch(() => ({ items: [] })),
    ctx.api.get('/nodes', { limit: 1000 }).catch(() => ({ items: [] })),
  ]);
  return {
    apps: new Map(apps.items.map((a) => [a.app_id, a.name])),
    nodes: new Map(nodes.items.map((n) => [n.node_id, n.name])),
  };
}

function ownerCell(cert, known) {
  return h('div', { class: 'nowrap' },
    cert.app_id ? h('div', {}, 'App ',
      link('#/apps/', cert.app_id, known.apps.get(cert.app_id) || cert.app_id.slice(0, 8))) : null,
    cert.node_id ? h('div', {}, 'Node ',
      link('#/nodes/', cert.node_id, known.nodes.get(cert.node_id) || cert.node_id.slice(0, 8))) : null);
}

function listColumns(known) {
  return [
    { label: 'Subject', value: (c) => link('#/certificates/', c.certificate_id,
      c.subject || '(no subject)') },
    { label: 'Kind', value: (c) => c.kind },
    { label: 'Status', value: (c) => badge(c.status) },
    { label: 'Serial', value: (c) => h('span', { class: 'mono', title: c.serial }, shortSerial(c.serial)) },
    { label: 'Valid from', value: (c) => fmtTime(c.valid_from) },
    { label: 'Valid until', value: (c) => fmtTime(c.valid_until) },
    { label: 'App / node', value: (c) => ownerCell(c, known) },
  ];
}

function shortSerial(serial) {
  return serial && serial.length > 20 ? serial.slice(0, 20) + '…' : serial || '—';
}

function filterForm(onChange) {
  const kind = field({
    label: 'Kind', name: 'kind', type: 'select', options: [['', 'All'], ['APP', 'App'], ['NODE', 'Node']],
  });
  const status = field({
    label: 'Status', name: 'status', type: 'select',
    options: [['', 'All'], ['ISSUED', 'ISSUED'], ['REVOKED', 'REVOKED'], ['EXPIRED', 'EXPIRED']],
  });
  const search = field({
    label: 'Search', name: 'all_search', type: 'search', placeholder: 'subject, serial, name',
  });
  kind.control.addEventListener('change', onChange);
  status.control.addEventListener('change', onChange);
  let timer = null;
  search.control.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, 300);
  });
  const node = h('form', { class: 'filters', role: 'search', on: { submit: (e) => e.preventDefault() } },
    kind, status, search);
  const values = () => ({
    kind: kind.control.value, status: status.control.value, all_search: search.control.value.trim(),
  });
  return { node, values };
}

async function renderList(view, ctx) {
  let offset = 0;
  let known = await names(ctx);
  const body = h('div', {});
  const load = async () => {
    const query = { ...filters.values(), limit: PAGE, offset };
    let list;
    try {
      list = await ctx.api.get('/certificates', query);
    } catch (error) {
      replace(body, errorBox(error));
      return;
    }
    const unknown = list.items.some((c) => (c.app_id && !known.apps.has(c.app_id)) ||
      (c.node_id && !known.nodes.has(c.node_id)));
    if (unknown) known = await names(ctx);
    replace(body, table({
      caption: 'Certificates', items: list.items, columns: listColumns(known),
      empty: list.metadata.total_count
        ? emptyState('No certificate matches these filters.', 'Change the kind, status or search.')
        : emptyState('No certificates yet.', 'Nodes get a certificate when they enroll (Compute nodes → ' +
          'Enroll a node); apps get one when they run on a node and their image and domain are approved.',
        h('a', { href: '#/nodes/enroll' }, 'Enroll a node')),
    }), list.items.length ? pager(list.metadata, list.items.length, PAGE, (o) => { offset = o; load(); }) : null);
  };
  const filters = filterForm(() => { offset = 0; load(); });
  show(view, pageHeader('Certificates'),
    h('p', { class: 'help' }, 'Node certificates identify enrolled nodes; app certificates are issued to ' +
      'app instances whose evidence the manager verified. Revoked ones are listed in the zone\'s CRL.'),
    filters.node, body);
  await load();
  return { refresh: load };
}

// ---- one certificate ----

function fileName(subject) {
  return (subject || 'certificate').replace(/[^A-Za-z0-9._-]/g, '_') + '.pem';
}

function certDetails(cert, known) {
  const app = cert.app_id ? link('#/apps/', cert.app_id, known.apps.get(cert.app_id) || cert.app_id) : '—';
  const node = cert.node_id
    ? link('#/nodes/', cert.node_id, known.nodes.get(cert.node_id) || cert.node_id) : '—';
  return details([
    ['Status', badge(cert.status)],
    ['Kind', cert.kind],
    ['Subject', mono(cert.subject)],
    ['DNS names', (cert.dns_names || []).length
      ? h('ul', { class: 'plain' }, cert.dns_names.map((d) => h('li', { class: 'mono' }, d))) : '—'],
    ['Serial', mono(cert.serial)],
    ['Valid from', fmtTime(cert.valid_from)],
    ['Valid until', fmtTime(cert.valid_until)],
    ['Certificate ID', mono(cert.certificate_id)],
    ['Zone', mono(cert.zone_id)],
    ['App', app],
    ['Build', cert.build_id ? link('#/builds/', cert.build_id, cert.build_id) : '—'],
    ['Node', node],
    ['Instance', mono(cert.instance_id)],
    ['Issued', fmtTime(cert.created_at)],
    cert.revoked_at ? ['Revoked', fmtTime(cert.revoked_at)] : null,
    cert.revoked_at || cert.revocation_reason ? ['Revocation reason', cert.revocation_reason || '—'] : null,
  ]);
}

function claimsBlock(claims) {
  if (!claims || !Object.keys(claims).length) return h('p', { class: 'help' }, 'No claims recorded.');
  return h('pre', { class: 'code-block', tabindex: '0' }, JSON.stringify(claims, null, 2));
}

// Revocation: a dialog asks for the reason; an error appears in error, next to the button (and
// stays when a refresh removes the button because the certificate got revoked meanwhile).
function revokeButton(ctx, cert, error, onDone) {
  const run = async (event) => {
    const target = event.currentTarget;
    replace(error);
    const reason = await dialog({
      title: 'Revoke certificate ' + (cert.subject || cert.certificate_id) + '?',
      body: h('p', {}, 'Clients that check the zone\'s CRL stop trusting it. This cannot be undone.'),
      input: {
        label: 'Reason', name: 'reason',
        help: 'Optional; recorded with the revocation and in the audit log.',
      },
      buttons: [{ label: 'Cancel', value: 'cancel' }, { label: 'Revoke', value: 'revoke', kind: 'danger' }],
    });
    if (reason === null) return;
    await runConfirmedAction(target, error, () => ctx.api.post('/certificates/' +
      encodeURIComponent(cert.certificate_id) + '/revoke', reason ? { reason } : {}),
    'Certificate revoked.', onDone);
  };
  return button('Revoke', run, 'danger');
}

async function renderCertificate(view, ctx, params) {
  const path = '/certificates/' + encodeURIComponent(params.id);
  let cert = await ctx.api.get(path);
  const known = await names(ctx);
  const title = h('h1', { tabindex: '-1' }, cert.subject || cert.certificate_id);
  const revokeError = h('span', { class: 'form-error', role: 'alert' });
  const buttons = h('span', { class: 'inline-action' });
  const actions = h('div', { class: 'page-actions inline-action' }, buttons, revokeError);
  const summary = h('div', {});
  const claims = h('div', {});
  const pem = h('div', {});
  let shownStatus = null;
  const draw = () => {
    replace(summary, certDetails(cert, known));
    replace(claims, claimsBlock(cert.claims));
    replace(pem, cert.certificate ? h('pre', { class: 'code-block', tabindex: '0' }, cert.certificate)
      : h('p', { class: 'help' }, 'No PEM stored.'));
    // Redrawn only when the status changes (keeping focus on the buttons otherwise).
    if (cert.status !== shownStatus) {
      shownStatus = cert.status;
      replace(buttons,
        cert.certificate ? button('Download PEM', () =>
          download(fileName(cert.subject), cert.certificate, 'application/x-pem-file')) : null,
        ctx.can('WRITER') && cert.status === 'ISSUED' ? revokeButton(ctx, cert, revokeError, reload) : null);
    }
  };
  const reload = async () => {
    cert = await ctx.api.get(path);
    draw();
  };
  show(view,
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/certificates' }, 'Certificates'), ' / ',
      cert.subject || cert.certificate_id),
    h('div', { class: 'page-header' }, title, actions),
    h('section', { class: 'panel' }, summary),
    h('h2', {}, 'Claims'),
    h('p', { class: 'help' }, 'What the attestation evidence showed when the certificate was issued.'),
    claims,
    h('h2', {}, 'Certificate (PEM)'), pem,
    cert.csr ? h('details', { class: 'advanced' }, h('summary', {}, 'Certificate signing request (CSR)'),
      h('pre', { class: 'code-block', tabindex: '0' }, cert.csr)) : null);
  draw();
  return { refresh: reload };
}

export const routes = [
  { path: '/certificates', title: 'Certificates', needsAccount: true, render: renderList },
  { path: '/certificates/:id', title: 'Certificate', needsAccount: true, render: renderCertificate },
];
