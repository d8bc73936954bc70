// Audit log: the account's hash-chained events (SPEC 3, "event"), filtered and paged, with the
// chain's verification and its export. System administrators can read the system chain
// (sign-ups and log-ins) instead.
import {
  h, append, replace, pager, field, table, emptyState, pageHeader, button, badge, download, fmtTime, errorBox,
  errorText,
} from '../ui.js';

// Appends children (nodes, arrays, or null for nothing) to view.
function show(view, ...children) {
  return append(view, children);
}

const PAGE = 50;
const VERIFY_EVERY = 8; // refreshes (2 s each) between re-verifications: verify reads the whole chain

const ACTION_TYPES = ['USER_AUTH', 'ADMIN', 'USER_APPROVAL', 'NODE_ATTESTATION', 'NODE_STATUS',
  'APP_STATUS', 'CERTIFICATE', 'IMAGE_CONVERSION'];
const SEVERITY_KINDS = { INFO: 'info', WARNING: 'warn', ERROR: 'bad' };

// Entity types that have a page in the console.
const ENTITY_PAGES = {
  app: '#/apps/', build: '#/builds/', node: '#/nodes/', certificate: '#/certificates/',
  task: '#/tasks/', registry: '#/registries/', account: '#/accounts/',
};

function entityCell(entity) {
  if (!entity || !entity.type) return '—';
  const page = ENTITY_PAGES[entity.type];
  const id = entity.id || '';
  const text = entity.type + (id ? ' ' + id.slice(0, 8) : '');
  return page && id ? h('a', { href: page + encodeURIComponent(id), title: id }, text)
    : h('span', { title: id || null }, text);
}

function actorCell(actor) {
  if (!actor) return '—';
  return h('span', { title: actor.id || null }, h('span', { class: 'actor-type' }, actor.type), ' ',
    actor.name || (actor.id ? actor.id.slice(0, 8) : ''));
}

const COLUMNS = [
  { label: 'Seq', value: (e) => e.seq, class: 'num' },
  { label: 'Time', value: (e) => fmtTime(e.time), class: 'nowrap' },
  { label: 'Actor', value: (e) => actorCell(e.actor), class: 'wrap-anywhere narrow' },
  { label: 'Action', value: (e) => h('span', { class: 'mono' }, e.action_type), class: 'nowrap' },
  { label: 'Severity', value: (e) => badge(e.severity, SEVERITY_KINDS[e.severity]) },
  { label: 'Message', value: (e) => e.message, class: 'wrap-anywhere' },
  { label: 'Entity', value: (e) => entityCell(e.entity), class: 'nowrap' },
];

// datetime-local text (the browser's local time) → RFC 3339 UTC; '' when empty.
function rfc3339(text) {
  if (!text) return '';
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function filterControls(isAdmin) {
  const controls = {
    action_type: field({
      label: 'Action', name: 'action_type', type: 'select',
      options: [['', 'All'], ...ACTION_TYPES.map((t) => [t, t])],
    }),
    severity: field({
      label: 'Severity', name: 'severity', type: 'select',
      options: [['', 'All'], ['INFO', 'INFO'], ['WARNING', 'WARNING'], ['ERROR', 'ERROR']],
    }),
    all_search: field({ label: 'Search', name: 'all_search', type: 'search', placeholder: 'message text' }),
    from: field({ label: 'From', name: 'from', type: 'datetime-local', step: 1 }),
    to: field({ label: 'To', name: 'to', type: 'datetime-local', step: 1 }),
    chain: isAdmin ? field({
      label: 'System chain', name: 'chain', type: 'checkbox',
      help: 'Sign-ups and log-ins of every user, instead of this account\'s events.',
    }) : null,
  };
  return controls;
}

// The chain to read: chain=system for administrators who ask for it, else the account's.
function chainQuery(controls) {
  return controls.chain && controls.chain.control.checked ? { chain: 'system' } : {};
}

function listQuery(controls, offset) {
  return {
    action_type: controls.action_type.control.value,
    severity: controls.severity.control.value,
    all_search: controls.all_search.control.value.trim(),
    from: rfc3339(controls.from.control.value),
    to: rfc3339(controls.to.control.value),
    ...chainQuery(controls),
    limit: PAGE,
    offset,
  };
}

function verifyBadge(report) {
  if (report.valid) {
    return h('span', { class: 'verify verify-ok' }, badge('Chain verified', 'ok'), ' ',
      `${report.events_checked} events, ${report.checkpoints_checked} signed checkpoints checked`);
  }
  const e = report.error || {};
  return h('span', { class: 'verify verify-bad', role: 'alert' },
    badge(`Chain broken at event ${e.seq ?? '?'}: ${e.reason || 'unknown reason'}`, 'bad'));
}

function fileStem(ctx, controls) {
  if (chainQuery(controls).chain) return 'audit-system';
  const name = (ctx.account && (ctx.account.name || ctx.account.acct_id)) || 'account';
  return 'audit-' + name.replace(/[^A-Za-z0-9._-]/g, '_');
}

// Export buttons: the whole chain (not only the filtered page), as the manager streams it.
function exportControls(ctx, controls) {
  const error = h('span', { class: 'form-error', role: 'alert' });
  const run = (format, type) => async (event) => {
    const target = event.currentTarget;
    replace(error);
    target.disabled = true;
    try {
      const text = await ctx.api.text('/events/export', { format, ...chainQuery(controls) });
      download(fileStem(ctx, controls) + '.' + format, text, type);
    } catch (e) {
      replace(error, errorText(e));
    } finally {
      target.disabled = false;
    }
  };
  return h('span', { class: 'inline-action' },
    button('Export CSV', run('csv', 'text/csv')),
    button('Export JSON', run('json', 'application/json')), error);
}

function emptyEvents(metadata) {
  if (metadata.total_count) {
    return emptyState('No event matches these filters.', 'Change or clear the filters to see the ' +
      metadata.total_count + ' events of this chain.');
  }
  return emptyState('No events yet.', 'Every change made through the API or the console (apps, images, ' +
    'approvals, nodes, certificates) is recorded here, hash-chained so that any edit is detected.');
}

async function renderAudit(view, ctx) {
  const controls = filterControls(Boolean(ctx.user && ctx.user.is_admin));
  const verifyBox = h('div', { class: 'verify-box', 'aria-live': 'polite' });
  const body = h('div', { class: 'audit-events' });
  let offset = 0;
  let ticks = 0;
  let sequence = 0;

  const verify = async () => {
    try {
      replace(verifyBox, verifyBadge(await ctx.api.get('/events/verify', chainQuery(controls))));
    } catch (error) {
      replace(verifyBox, h('span', { class: 'form-error', role: 'alert' },
        'Verification failed: ' + errorText(error)));
    }
  };
  const load = async () => {
    const mine = ++sequence;
    let list;
    try {
      list = await ctx.api.get('/events', listQuery(controls, offset));
    } catch (error) {
      if (mine === sequence) replace(body, errorBox(error));
      return;
    }
    if (mine !== sequence) return; // a newer filter or page won
    replace(body, table({
      caption: 'Audit events', items: list.items, columns: COLUMNS, empty: emptyEvents(list.metadata),
    }),
      list.items.length ? pager(list.metadata, list.items.length, PAGE, (o) => { offset = o; load(); }) : null);
  };
  const filtersChanged = () => {
    offset = 0;
    load();
  };
  const chainChanged = () => {
    filtersChanged();
    verify();
  };

  for (const name of ['action_type', 'severity', 'from', 'to']) {
    controls[name].control.addEventListener('change', filtersChanged);
  }
  if (controls.chain) controls.chain.control.addEventListener('change', chainChanged);
  let timer = null;
  controls.all_search.control.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(filtersChanged, 300);
  });

  show(view,
    pageHeader('Audit log', exportControls(ctx, controls)),
    h('div', { class: 'verify-line' }, verifyBox, button('Verify again', verify, 'secondary small')),
    h('form', { class: 'filters', role: 'search', on: { submit: (e) => e.preventDefault() } },
      Object.values(controls).filter(Boolean)),
    body);
  await Promise.all([load(), verify()]);
  return {
    // Only the first page follows new events: a user reading older pages keeps their place.
    refresh: async () => {
      ticks += 1;
      if (ticks % VERIFY_EVERY === 0) await verify();
      if (offset === 0) await load();
    },
  };
}

export const routes = [
  { path: '/audit', title: 'Audit log', needsAccount: true, render: renderAudit },
];
