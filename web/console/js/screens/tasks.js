// Tasks: the approval requests of the account (SPEC 1 step 5). New domains of an app and new
// images each raise a task; WRITERs approve or deny them, and a task succeeds once the account's
// number of approvals is reached (one denial denies).
import {
  h, replace, table, emptyState, pageHeader, button, badge, dialog, toast, fmtTime, tabs,
  details, errorText,
  paging,
} from '../ui.js';

const TABS = [
  ['INPROGRESS', 'Pending'],
  ['SUCCESS', 'Approved'],
  ['DENIED', 'Denied'],
  ['FAILED', 'Failed'],
];

const TYPE_NAMES = {
  DOMAIN_WHITELIST: 'Domain approval',
  BUILD_WHITELIST: 'Image approval',
  NODE_ATTESTATION: 'Node attestation',
  CERTIFICATE_ISSUANCE: 'Certificate issuance',
};

const EMPTY = {
  INPROGRESS: ['No tasks waiting for approval.',
    'Tasks appear when a domain is added to an app or an image is built.'],
  SUCCESS: ['No approved tasks.', 'Tasks approved by enough members are listed here.'],
  DENIED: ['No denied tasks.', 'Tasks someone denied are listed here.'],
  FAILED: ['No failed tasks.', 'Tasks that ended without a decision (superseded by a newer change, ' +
    'or their app or image deleted) are listed here.'],
};

function typeName(type) {
  return TYPE_NAMES[type] || type;
}

// The page of the entity a task is about.
function entityLink(t) {
  const name = t.entity_name || t.entity_id;
  const id = encodeURIComponent(t.entity_id);
  if (t.task_type === 'DOMAIN_WHITELIST') return h('a', { href: '#/apps/' + id }, name);
  if (t.task_type === 'BUILD_WHITELIST') return h('a', { href: '#/builds/' + id }, name);
  if (t.task_type === 'NODE_ATTESTATION') return h('a', { href: '#/nodes/' + id }, name);
  return name;
}

function domainsCell(t) {
  const added = t.domains_added || [];
  const removed = t.domains_removed || [];
  if (!added.length && !removed.length) return '—';
  return h('div', { class: 'task-domains' },
    added.length ? h('div', {}, 'Added: ', h('span', { class: 'mono' }, added.join(', '))) : null,
    removed.length ? h('div', {}, 'Removed: ', h('span', { class: 'mono' }, removed.join(', '))) : null);
}

function approvalCount(t) {
  return (t.approvals || []).filter((a) => a.status === 'APPROVED').length;
}

function quorum(t) {
  const given = approvalCount(t);
  const needed = t.approvals_required || 1;
  return h('div', { class: 'quorum' },
    h('progress', { max: needed, value: Math.min(given, needed), 'aria-label': 'Approvals' }),
    h('span', {}, given + ' of ' + needed + ' approval' + (needed === 1 ? '' : 's')));
}

function votesList(t) {
  const votes = t.approvals || [];
  if (!votes.length) return h('span', { class: 'help' }, 'none yet');
  return h('ul', { class: 'plain votes' }, votes.map((v) => h('li', {},
    v.user_name || v.user_id, ' ', badge(v.status), v.reason ? [' — ', v.reason] : null,
    v.time ? [' ', h('span', { class: 'help' }, fmtTime(v.time))] : null)));
}

function statusCell(t) {
  return [badge(t.status.status === 'INPROGRESS' ? 'PENDING' : t.status.status),
    t.status.reason ? h('div', { class: 'help' }, t.status.reason) : null];
}

function canVote(ctx, t) {
  return ctx.can('WRITER') && t.status.status === 'INPROGRESS' &&
    !(t.approvals || []).some((a) => a.user_id === ctx.user.user_id);
}

// Approve and Deny for one task, with the API's answer (e.g. 409) shown right next to them.
// done(task) runs after a successful vote. errors (a Map task_id → {label, text}) keeps a failed
// vote's message across the list's live redraws.
function voteButtons(ctx, t, done, errors = new Map()) {
  if (!canVote(ctx, t)) {
    const voted = (t.approvals || []).find((a) => a.user_id === ctx.user.user_id);
    return voted ? h('span', { class: 'help' }, 'You ' + voted.status.toLowerCase()) : null;
  }
  const label = typeName(t.task_type) + ' for ' + (t.entity_name || t.entity_id);
  const error = h('span', { class: 'form-error', role: 'alert' },
    errors.has(t.task_id) ? errors.get(t.task_id).text : null);
  const vote = async (body, buttons) => {
    replace(error);
    errors.delete(t.task_id);
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const task = await ctx.api.patch('/tasks/' + encodeURIComponent(t.task_id), body);
      toast(body.status === 'APPROVED' ? 'Approved.' : 'Denied.');
      await done(task);
    } catch (e) {
      errors.set(t.task_id, { label, text: errorText(e) });
      replace(error, errorText(e));
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  const approve = button('Approve', () => vote({ status: 'APPROVED' }, [approve, deny]), 'primary',
    { 'aria-label': 'Approve ' + label });
  const deny = button('Deny', async () => {
    const reason = await dialog({
      title: 'Deny ' + label + '?',
      body: h('p', {}, 'One denial ends the task: ' + (t.task_type === 'BUILD_WHITELIST'
        ? 'the image is rejected and its instances get no certificate.'
        : 'the domains stay unapproved.')),
      input: { label: 'Reason', name: 'reason' },
      buttons: [{ label: 'Cancel', value: 'cancel' }, { label: 'Deny', value: 'deny', kind: 'danger' }],
    });
    if (reason === null) return;
    await vote(reason ? { status: 'DENIED', reason } : { status: 'DENIED' }, [approve, deny]);
  }, 'danger', { 'aria-label': 'Deny ' + label });
  return h('div', { class: 'task-actions' }, approve, deny, error);
}

// ---- list ----

async function renderList(view, ctx, params, query) {
  const status = TABS.some(([s]) => s === query.status) ? query.status : 'INPROGRESS';
  const body = h('div', {});
  const errors = new Map();
  view.append(
    pageHeader('Tasks'),
    tabs(TABS.map(([s, label]) => ({ label, href: '#/tasks?status=' + s, current: s === status }))),
    body);
  let last = null;
  const pages = paging(() => load(true));
  const load = async (force) => {
    const list = await ctx.api.get('/tasks', { status, ...pages.query() });
    const now = JSON.stringify(list);
    // Redrawing unchanged rows would drop an error shown next to a row's buttons and the focus.
    if (!force && now === last) return;
    last = now;
    // A task whose vote failed may since have left this tab (decided by someone else): its
    // error stays visible above the list instead of vanishing with its row.
    const shown = new Set(list.items.map((t) => t.task_id));
    const gone = [...errors].filter(([id]) => !shown.has(id));
    replace(body, gone.map(([id, e]) => h('div', { class: 'error-box', role: 'alert' },
      h('a', { href: '#/tasks/' + encodeURIComponent(id) }, e.label), ': ', e.text)), table({
      caption: TABS.find(([s]) => s === status)[1] + ' tasks',
      items: list.items,
      rowAttrs: (t) => ({ 'data-task-id': t.task_id }),
      columns: [
        { label: 'Type',
          value: (t) => h('a', { href: '#/tasks/' + encodeURIComponent(t.task_id) }, typeName(t.task_type)) },
        { label: 'For', value: entityLink },
        { label: 'Domains', value: domainsCell },
        { label: 'Requested by', value: (t) => (t.requester_info && t.requester_info.user_name) || '—' },
        { label: 'Created', value: (t) => fmtTime(t.created_at) },
        { label: 'Approvals', value: quorum },
        { label: 'Votes', value: votesList },
        // A READER gets no Actions column: they cannot vote.
        status !== 'INPROGRESS' ? { label: 'Result', value: statusCell }
          : ctx.can('WRITER')
            ? { label: 'Actions', value: (t) => voteButtons(ctx, t, () => load(true), errors) }
            : null,
      ].filter(Boolean),
      empty: emptyState(...EMPTY[status]),
    }), pages.pagerFor(list));
  };
  await load(true);
  return { refresh: () => load(false) };
}

// ---- detail ----

function taskPairs(ctx, t, reload, errors) {
  return [
    ['Type', typeName(t.task_type)],
    ['For', entityLink(t)],
    ['Status', statusCell(t)],
    ['Domains', domainsCell(t)],
    ['Requested by', (t.requester_info && t.requester_info.user_name) || '—'],
    ['Approvals', quorum(t)],
    ['Votes', votesList(t)],
    ['Created', fmtTime(t.created_at)],
    ['Updated', fmtTime(t.updated_at)],
    ['Task id', h('span', { class: 'mono' }, t.task_id)],
    canVote(ctx, t) ? ['Your decision', voteButtons(ctx, t, reload, errors)] : null,
  ];
}

async function renderDetail(view, ctx, params) {
  const id = encodeURIComponent(params.id);
  let task = await ctx.api.get('/tasks/' + id);
  const body = h('div', {});
  const errors = new Map();
  let last = null;
  const draw = (t, force) => {
    const now = JSON.stringify(t);
    if (!force && now === last) return;
    last = now;
    task = t;
    // Once the buttons are gone (decided meanwhile), a failed vote's error stays above the panel.
    const stale = !canVote(ctx, t) && errors.get(t.task_id);
    replace(body, stale ? h('div', { class: 'error-box', role: 'alert' }, stale.text) : null,
      h('section', { class: 'panel' }, details(taskPairs(ctx, t, (updated) => draw(updated, true), errors))));
  };
  view.append(pageHeader(typeName(task.task_type) + ': ' + (task.entity_name || task.entity_id)),
    h('p', {}, h('a', { href: '#/tasks?status=' + task.status.status }, '← All ' +
      (TABS.find(([s]) => s === task.status.status) || [null, ''])[1].toLowerCase() + ' tasks')),
    body);
  draw(task, true);
  return { refresh: async () => draw(await ctx.api.get('/tasks/' + id), false) };
}

export const routes = [
  { path: '/tasks', title: 'Tasks', needsAccount: true, render: renderList },
  { path: '/tasks/:id', title: 'Task', needsAccount: true, render: renderDetail },
];
