// Registries: the container registries of the selected account with their credentials, used to
// push converted images and to pull private input images. Passwords are write-only.
import {
  h, field, form, value, table, emptyState, pageHeader, linkButton, button, badge, details,
  confirmAction, errorText, fmtTime, replace, toast,
  paging,
} from '../ui.js';

const WHY = 'Registry credentials are used to push converted images and to pull private input ' +
  'images. Add the registries that need a log-in.';

function registryFields(registry) {
  const r = registry || {};
  return [
    field({
      label: 'URL', name: 'url', required: true, value: r.url,
      placeholder: 'registry.example.com[:port][/path]',
      help: 'Registry host, optional port and path, or an https:// URL. Unique in the account.',
    }),
    field({ label: 'Description', name: 'description', type: 'textarea', rows: 2, value: r.description }),
    field({ label: 'Username', name: 'username', value: r.username, autocomplete: 'off' }),
    field({
      label: 'Password', name: 'password', type: 'password', autocomplete: 'new-password',
      help: registry
        ? (r.has_password ? 'A password is stored. Leave this empty to keep it; it is never shown.'
          : 'No password is stored. Leave this empty to keep none.')
        : 'Stored encrypted and never shown again.',
    }),
  ];
}

// The body of a create or edit: empty optional fields are left out (an edit keeps them).
function registryBody(f, editing) {
  const body = { url: value(f, 'url') };
  const description = value(f, 'description');
  const username = value(f, 'username');
  const password = f.elements.namedItem('password').value;
  // In an edit an emptied field is sent as null, which clears it.
  if (description || editing) body.description = description || null;
  if (username || editing) body.username = username || null;
  if (password) body.password = password;
  return body;
}

function deleteButton(ctx, registry, error, after) {
  return button('Delete', async () => {
    const ok = await confirmAction('Delete registry ' + registry.url + '?',
      'Its credentials are removed; images on ' + registry.url + ' can then no longer be pushed ' +
      'or pulled with them.');
    if (!ok) return;
    replace(error);
    try {
      await ctx.api.del('/registry/' + encodeURIComponent(registry.registry_id));
      toast('Registry ' + registry.url + ' deleted.');
      await after();
    } catch (e) {
      replace(error, errorText(e));
    }
  }, 'danger small', { 'aria-label': 'Delete registry ' + registry.url });
}

function registriesTable(ctx, items, reload) {
  const writer = ctx.can('WRITER');
  const columns = [
    { label: 'URL',
      value: (r) => h('a', { href: '#/registries/' + encodeURIComponent(r.registry_id) }, r.url) },
    { label: 'Description', value: (r) => r.description || '—' },
    { label: 'Username', value: (r) => r.username || '—' },
    { label: 'Password', value: (r) => (r.has_password ? badge('stored', 'ok') : badge('none', 'muted')) },
    { label: 'Created', value: (r) => fmtTime(r.created_at) },
  ];
  if (writer) {
    columns.push({ label: 'Actions', value: (r) => {
      const error = h('span', { class: 'form-error', role: 'alert' });
      return [linkButton('#/registries/' + encodeURIComponent(r.registry_id), 'Edit', 'secondary small'),
        ' ', deleteButton(ctx, r, error, reload), error];
    } });
  }
  return table({
    caption: 'Registries',
    items,
    columns,
    empty: emptyState('No registries yet.', WHY + (writer ? '' : ' A WRITER of the account can add them.'),
      writer ? linkButton('#/registries/new', 'Add registry') : null),
  });
}

async function renderList(view, ctx) {
  const holder = h('div', { id: 'registries-list' });
  let lastKey = null;
  const pages = paging(() => load(true));
  const load = async (force) => {
    const list = await ctx.api.get('/registry', { sort_by: 'url:ASC', ...pages.query() });
    const key = JSON.stringify(list);
    if (!force && key === lastKey) return;
    lastKey = key;
    replace(holder, registriesTable(ctx, list.items, () => load(true)), pages.pagerFor(list));
  };
  await load(true);
  view.append(
    pageHeader('Registries', ctx.can('WRITER') ? linkButton('#/registries/new', 'Add registry') : null),
    h('p', {}, 'The container registries of the account and the credentials Cloister uses for them.'),
    h('section', { class: 'panel' }, holder));
  return { refresh: () => load(false) };
}

async function renderNew(view, ctx) {
  view.append(pageHeader('Add registry'));
  if (!ctx.can('WRITER')) {
    view.append(h('p', { class: 'notice' }, 'Adding a registry needs the WRITER role.'));
    return;
  }
  view.append(h('p', {}, WHY), h('section', { class: 'panel' }, form({
    fields: registryFields(null),
    submitLabel: 'Add registry',
    cancel: () => ctx.navigate('#/registries'),
    onSubmit: async (f) => {
      const registry = await ctx.api.post('/registry', registryBody(f, false));
      toast('Registry ' + registry.url + ' added.');
      ctx.navigate('#/registries');
    },
  })));
}

async function renderDetail(view, ctx, params) {
  const registry = await ctx.api.get('/registry/' + encodeURIComponent(params.id));
  const error = h('div', { class: 'form-error', role: 'alert' });
  view.append(
    pageHeader(registry.url, ctx.can('WRITER')
      ? deleteButton(ctx, registry, error, async () => ctx.navigate('#/registries')) : null),
    error,
    h('p', {}, h('a', { href: '#/registries' }, '← All registries')),
    h('section', { class: 'panel' }, details([
      ['URL', registry.url],
      ['Description', registry.description || '—'],
      ['Username', registry.username || '—'],
      ['Password', registry.has_password ? 'stored (never shown)' : 'none'],
      ['Created', fmtTime(registry.created_at)],
      ['Updated', fmtTime(registry.updated_at)],
    ])));
  if (!ctx.can('WRITER')) return;
  view.append(h('section', { class: 'panel', 'aria-labelledby': 'edit-registry-title' },
    h('h2', { id: 'edit-registry-title' }, 'Edit registry'),
    form({
      fields: registryFields(registry),
      submitLabel: 'Save',
      cancel: () => ctx.navigate('#/registries'),
      onSubmit: async (f) => {
        await ctx.api.patch('/registry/' + encodeURIComponent(registry.registry_id), registryBody(f, true));
        toast('Registry saved.');
        ctx.navigate('#/registries');
      },
    })));
}

export const routes = [
  { path: '/registries', title: 'Registries', needsAccount: true, render: renderList },
  { path: '/registries/new', title: 'Add registry', needsAccount: true, render: renderNew },
  { path: '/registries/:id', title: 'Registry', needsAccount: true, render: renderDetail },
];
