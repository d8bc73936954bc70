// Users: the members of the selected account with their roles; a MANAGER invites users,
// changes roles and removes members.
import {
  h, field, form, value, table, emptyState, pageHeader, button, badge, confirmAction, errorText,
  fmtTime, fmtAgo, replace, toast,
  paging,
} from '../ui.js';

const ROLES = [['READER', 'READER'], ['WRITER', 'WRITER'], ['MANAGER', 'MANAGER']];

function rolesHelp() {
  return h('section', { class: 'panel', 'aria-labelledby': 'roles-title' },
    h('h2', { id: 'roles-title' }, 'Roles'),
    h('dl', { class: 'details' },
      h('dt', {}, 'READER'), h('dd', {}, 'Sees everything in the account, changes nothing.'),
      h('dt', {}, 'WRITER'), h('dd', {}, 'Also adds applications, images, registries and nodes, ' +
        'and approves or denies tasks.'),
      h('dt', {}, 'MANAGER'), h('dd', {}, 'Also manages members and roles, the account settings ' +
        'and can delete the account. An account always keeps at least one MANAGER.')));
}

function fullName(u) {
  return [u.first_name, u.last_name].filter(Boolean).join(' ') || '—';
}

// The role cell of a row: a select with "Save role" for a MANAGER, else the role.
function roleCell(ctx, member, error, reload) {
  if (!ctx.can('MANAGER')) return badge(member.role, 'info');
  const select = h('select', { 'aria-label': 'Role of ' + member.user_email, name: 'role' },
    ROLES.map(([v, l]) => h('option', { value: v, selected: v === member.role }, l)));
  const save = button('Save role', async () => {
    replace(error);
    save.disabled = true;
    try {
      await ctx.api.patch('/users/' + encodeURIComponent(member.user_id), { role: select.value });
      toast('Role of ' + member.user_email + ' set to ' + select.value + '.');
      // Demoting oneself changes what the console may show.
      if (member.user_id === ctx.user.user_id) await ctx.reloadSession();
      await reload();
    } catch (e) {
      // Show the role the member still has, with the reason next to the row.
      select.value = member.role;
      replace(error, errorText(e));
    } finally {
      save.disabled = false;
    }
  }, 'secondary small', { 'aria-label': 'Save role of ' + member.user_email });
  return h('span', { class: 'actions' }, select, save);
}

function removeButton(ctx, member, error, reload) {
  const self = member.user_id === ctx.user.user_id;
  if (!ctx.can('MANAGER') && !self) return null;
  return button(self ? 'Leave' : 'Remove', async () => {
    const ok = await confirmAction(
      self ? 'Leave this account?' : 'Remove ' + member.user_email + '?',
      self ? 'You will lose access to the account "' + ctx.account.name + '".'
        : member.user_email + ' will lose access to the account "' + ctx.account.name + '".',
      self ? 'Leave' : 'Remove');
    if (!ok) return;
    replace(error);
    try {
      await ctx.api.del('/users/' + encodeURIComponent(member.user_id) + '/accounts');
      toast(member.user_email + ' removed from the account.');
      if (self) {
        await ctx.reloadSession();
        ctx.navigate('#/accounts');
        return;
      }
      await reload();
    } catch (e) {
      replace(error, errorText(e));
    }
  }, 'danger small', { 'aria-label': (self ? 'Leave the account' : 'Remove ' + member.user_email) });
}

// The error line of a member's row. It lives in `errors` (by user id) so that redrawing the
// table (after another row's action or a live update) keeps an error on screen.
function rowError(errors, member) {
  if (!errors.has(member.user_id)) {
    errors.set(member.user_id, h('span', { class: 'form-error', role: 'alert' }));
  }
  return errors.get(member.user_id);
}

function membersTable(ctx, items, reload, errors) {
  return table({
    caption: 'Members of the account',
    items,
    empty: emptyState('No members.', 'Invite users who already signed up on this manager.'),
    rowAttrs: (m) => ({ dataset: { userId: m.user_id } }),
    columns: [
      { label: 'Name', value: (m) => fullName(m) },
      { label: 'E-mail', value: (m) => m.user_email },
      { label: 'Role', value: (m) => roleCell(ctx, m, rowError(errors, m), reload) },
      { label: 'Last log-in', value: (m) => (m.last_logged_in_at
        ? h('span', { title: m.last_logged_in_at }, fmtAgo(m.last_logged_in_at)) : 'never') },
      { label: 'Signed up', value: (m) => fmtTime(m.created_at) },
      { label: 'Actions',
        value: (m) => [removeButton(ctx, m, rowError(errors, m), reload), rowError(errors, m)] },
    ],
  });
}

function inviteForm(ctx, reload) {
  return form({
    fields: [
      field({
        label: 'E-mail', name: 'user_email', type: 'email', required: true,
        help: 'The user must already have signed up on this manager.',
      }),
      field({ label: 'Role', name: 'role', type: 'select', options: ROLES, value: 'READER' }),
    ],
    submitLabel: 'Invite user',
    onSubmit: async (f) => {
      const email = value(f, 'user_email');
      await ctx.api.post('/users/invite', { user_email: email, role: value(f, 'role') });
      f.reset();
      toast(email + ' invited.');
      await reload();
    },
  });
}

async function renderUsers(view, ctx) {
  const holder = h('div', { id: 'members-list' });
  // Rows are only redrawn when the member list changed, so a role being chosen is not lost.
  let lastKey = null;
  const errors = new Map();
  const pages = paging(() => load(true));
  const load = async (force) => {
    const list = await ctx.api.get('/users', pages.query());
    const key = JSON.stringify([list.metadata,
      list.items.map((m) => [m.user_id, m.role, m.last_logged_in_at])]);
    if (!force && key === lastKey) return;
    lastKey = key;
    replace(holder, membersTable(ctx, list.items, () => load(true), errors), pages.pagerFor(list));
  };
  await load(true);
  view.append(
    pageHeader('Users'),
    h('p', {}, 'Members of the account "' + ctx.account.name + '" and their roles.'),
    h('section', { class: 'panel' }, holder),
    ctx.can('MANAGER') ? h('section', { class: 'panel', 'aria-labelledby': 'invite-title' },
      h('h2', { id: 'invite-title' }, 'Invite user'), inviteForm(ctx, () => load(true))) : null,
    rolesHelp());
  return { refresh: () => load(false) };
}

export const routes = [
  { path: '/users', title: 'Users', needsAccount: true, render: renderUsers },
];
