// Accounts: the caller's accounts (select one, create one) and one account's details and
// settings (edit and delete for a MANAGER). An account groups apps, images, nodes and members.
import {
  h, field, form, value, table, emptyState, pageHeader, button, badge, details, confirmAction,
  errorText, fmtTime, replace, toast,
} from '../ui.js';

function createForm(ctx) {
  return form({
    fields: [
      field({ label: 'Name', name: 'name', required: true }),
      field({ label: 'Description', name: 'description', type: 'textarea', rows: 2 }),
    ],
    submitLabel: 'Create account',
    onSubmit: async (f) => {
      const body = { name: value(f, 'name') };
      const description = value(f, 'description');
      if (description) body.description = description;
      const account = await ctx.api.post('/accounts', body);
      // A new account is selected at once: that is what its creator wants to work in.
      await ctx.api.post('/accounts/select_account/' + encodeURIComponent(account.acct_id));
      await ctx.reloadSession();
      toast('Account "' + account.name + '" created.');
      ctx.navigate('#/dashboard');
    },
  });
}

function selectCell(ctx, account) {
  if (ctx.account && ctx.account.acct_id === account.acct_id) return badge('Selected', 'ok');
  const error = h('span', { class: 'form-error', role: 'alert' });
  const select = button('Select', async () => {
    select.disabled = true;
    replace(error);
    try {
      await ctx.api.post('/accounts/select_account/' + encodeURIComponent(account.acct_id));
      await ctx.reloadSession();
      ctx.navigate('#/dashboard');
    } catch (e) {
      replace(error, errorText(e));
      select.disabled = false;
    }
  }, 'secondary small', { 'aria-label': 'Select account ' + account.name });
  return [select, error];
}

function accountsTable(ctx, items) {
  return table({
    caption: 'Your accounts',
    items,
    empty: emptyState('You are not a member of any account yet.',
      'Create your first account below: it holds your applications, images, compute nodes and ' +
      'members. You become its MANAGER. Or ask a MANAGER of an existing account to invite you.'),
    columns: [
      { label: 'Name', value: (a) => h('a', { href: '#/accounts/' + encodeURIComponent(a.acct_id) },
        a.name) },
      { label: 'Description', value: (a) => a.description || '—' },
      { label: 'Your role', value: (a) => a.role || '—' },
      { label: 'Simulation',
        value: (a) => (a.settings && a.settings.allow_simulation ? badge('INSECURE') : '—') },
      { label: 'Created', value: (a) => fmtTime(a.created_at) },
      { label: 'Selected', value: (a) => selectCell(ctx, a) },
    ],
  });
}

async function renderList(view, ctx) {
  const list = await ctx.api.get('/accounts', { limit: 1000 });
  const holder = h('div', { id: 'accounts-list' }, accountsTable(ctx, list.items));
  view.append(
    pageHeader('Accounts'),
    h('p', {}, 'An account holds applications, images, tasks, compute nodes and its members. ' +
      'Select the account you want to work in.'),
    h('section', { class: 'panel' }, holder),
    h('section', { class: 'panel', 'aria-labelledby': 'create-account-title' },
      h('h2', { id: 'create-account-title' }, 'Create account'),
      createForm(ctx)));
  // Redraw only when the list changed, so that keyboard focus on a Select button stays put.
  let lastKey = JSON.stringify(list.items);
  return {
    refresh: async () => {
      const fresh = await ctx.api.get('/accounts', { limit: 1000 });
      const key = JSON.stringify(fresh.items);
      if (key === lastKey) return;
      lastKey = key;
      replace(holder, accountsTable(ctx, fresh.items));
    },
  };
}

function settingsPairs(account) {
  const s = account.settings || {};
  return [
    ['Approvals needed (quorum)', String(s.approvals_required)],
    ['Simulated attestation', s.allow_simulation ? badge('INSECURE') : 'Not allowed'],
    ['Certificate validity', s.certificate_validity + ' s'],
    ['Renewal threshold', s.renewal_threshold + ' %'],
    ['Node refresh interval', s.node_refresh_interval + ' s'],
  ];
}

function editForm(ctx, account) {
  const s = account.settings || {};
  return form({
    fields: [
      field({ label: 'Name', name: 'name', required: true, value: account.name }),
      field({
        label: 'Description', name: 'description', type: 'textarea', rows: 2,
        value: account.description,
      }),
      field({
        label: 'Approvals needed (quorum)', name: 'settings.approvals_required', type: 'number',
        min: 1, max: 10, value: s.approvals_required, required: true,
        help: 'How many distinct WRITERs or MANAGERs must approve a task (1–10).',
      }),
      field({
        label: 'Allow simulated attestation (INSECURE — for development only)',
        name: 'settings.allow_simulation', type: 'checkbox', value: s.allow_simulation,
        help: 'INSECURE: any machine can then enroll as a node and pretend to run an approved ' +
          'image. Leave it off in production.',
      }),
      field({
        label: 'Certificate validity (seconds)', name: 'settings.certificate_validity', type: 'number',
        min: 300, max: 31536000, value: s.certificate_validity, required: true,
        help: '300 to 31536000 seconds (default 86400, one day).',
      }),
      field({
        label: 'Renewal threshold (%)', name: 'settings.renewal_threshold', type: 'number',
        min: 1, max: 99, value: s.renewal_threshold, required: true,
        help: 'Certificates are renewed once this share of their validity has passed (1–99).',
      }),
      field({
        label: 'Node refresh interval (seconds)', name: 'settings.node_refresh_interval', type: 'number',
        min: 5, max: 3600, value: s.node_refresh_interval, required: true,
        help: 'How often nodes check in with the manager (5–3600).',
      }),
    ],
    submitLabel: 'Save settings',
    onSubmit: async (f) => {
      await ctx.api.patch('/accounts/' + encodeURIComponent(account.acct_id), {
        name: value(f, 'name'),
        description: value(f, 'description'),
        settings: {
          approvals_required: value(f, 'settings.approvals_required'),
          allow_simulation: value(f, 'settings.allow_simulation'),
          certificate_validity: value(f, 'settings.certificate_validity'),
          renewal_threshold: value(f, 'settings.renewal_threshold'),
          node_refresh_interval: value(f, 'settings.node_refresh_interval'),
        },
      });
      await ctx.reloadSession();
      toast('Account settings saved.');
      ctx.navigate('#/accounts/' + encodeURIComponent(account.acct_id));
    },
  });
}

function deleteSection(ctx, account) {
  const error = h('div', { class: 'form-error', role: 'alert' });
  const remove = button('Delete account', async () => {
    const ok = await confirmAction('Delete account "' + account.name + '"?',
      'This removes every application, image, task, registry, member and the audit log of the ' +
      'account "' + account.name + '". It cannot be undone.', 'Delete account');
    if (!ok) return;
    replace(error);
    try {
      await ctx.api.del('/accounts/' + encodeURIComponent(account.acct_id));
      await ctx.reloadSession();
      toast('Account "' + account.name + '" deleted.');
      ctx.navigate('#/accounts');
    } catch (e) {
      replace(error, errorText(e));
    }
  }, 'danger');
  return h('section', { class: 'panel', 'aria-labelledby': 'delete-account-title' },
    h('h2', { id: 'delete-account-title' }, 'Delete account'),
    h('p', {}, 'Deleting the account removes everything in it, for every member.'),
    error, h('div', { class: 'actions' }, remove));
}

async function renderDetail(view, ctx, params) {
  const account = await ctx.api.get('/accounts/' + encodeURIComponent(params.id));
  const manager = account.role === 'MANAGER';
  const selected = ctx.account && ctx.account.acct_id === account.acct_id;
  view.append(
    pageHeader(account.name,
      selected ? badge('Selected', 'ok') : selectCell(ctx, account)),
    h('p', {}, h('a', { href: '#/accounts' }, '← All accounts')),
    h('section', { class: 'panel' }, h('h2', {}, 'Details'), details([
      ['Account id', account.acct_id],
      ['Description', account.description || '—'],
      ['Status', badge(account.status)],
      ['Your role', account.role],
      ['Created', fmtTime(account.created_at)],
    ])),
    h('section', { class: 'panel' }, h('h2', {}, 'Settings'), details(settingsPairs(account))),
    manager ? h('section', { class: 'panel', 'aria-labelledby': 'edit-account-title' },
      h('h2', { id: 'edit-account-title' }, 'Edit account'), editForm(ctx, account)) : null,
    manager ? deleteSection(ctx, account) :
      h('p', { class: 'help' }, 'Only a MANAGER of the account can change its settings.'));
}

export const routes = [
  { path: '/accounts', title: 'Accounts', public: false, needsAccount: false, render: renderList },
  { path: '/accounts/:id', title: 'Account', needsAccount: false, render: renderDetail },
];
