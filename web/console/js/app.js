// The console shell: session, the selected account, navigation, routing and live updates.
//
// Screens are modules under screens/ that export `routes`: [{path, title, render, needsAccount,
// public}]. render(view, ctx, params, query) fills view and may return {refresh}, which the
// shell calls every POLL_MS while the page is visible, so lists and progress stay live without
// reloading (docs/console.md, "Live updates").
import { api, hasSession, onUnauthorized } from './api.js';
import { h, replace, clear } from './dom.js';
import { errorBox, toast } from './ui.js';
import * as login from './screens/login.js';
import * as accounts from './screens/accounts.js';
import * as dashboard from './screens/dashboard.js';
import * as apps from './screens/apps.js';
import * as builds from './screens/builds.js';
import * as tasks from './screens/tasks.js';
import * as nodes from './screens/nodes.js';
import * as instances from './screens/instances.js';
import * as certificates from './screens/certificates.js';
import * as registries from './screens/registries.js';
import * as users from './screens/users.js';
import * as audit from './screens/audit.js';

const POLL_MS = 2000;
const ROLE_RANK = { READER: 1, WRITER: 2, MANAGER: 3 };

const NAV = [
  ['#/dashboard', 'Dashboard'],
  ['#/apps', 'Applications'],
  ['#/builds', 'Images'],
  ['#/tasks', 'Tasks'],
  ['#/nodes', 'Compute nodes'],
  ['#/instances', 'Running apps'],
  ['#/certificates', 'Certificates'],
  ['#/registries', 'Registries'],
  ['#/users', 'Users'],
  ['#/audit', 'Audit log'],
  ['#/accounts', 'Accounts'],
];

const routes = [login, accounts, dashboard, apps, builds, tasks, nodes, instances, certificates,
  registries, users, audit].flatMap((m) => m.routes);

// What every screen gets: the session's user, the selected account and the caller's role in it.
const ctx = {
  api,
  user: null,
  account: null,
  role: null,
  version: null,
  can(minRole) {
    return (ROLE_RANK[this.role] || 0) >= ROLE_RANK[minRole];
  },
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  // Reloads the user, accounts and selected account (after creating, selecting or deleting
  // an account, or changing its settings) and redraws the header.
  async reloadSession() {
    await loadSession();
    renderShell();
  },
  // Drops the session state and shows the log-in screen with message.
  endSession(message) {
    this.user = null;
    this.account = null;
    this.role = null;
    login.setNotice(message);
    renderShell();
    this.navigate('#/login');
  },
};

let current = null; // {refresh} of the screen on view
let pollTimer = null;
let routeSequence = 0;

async function loadSession() {
  const user = await api.get('/user');
  ctx.user = user;
  ctx.account = null;
  ctx.role = null;
  if (user.selected_account) {
    const entry = user.accounts.find((a) => a.acct_id === user.selected_account);
    ctx.role = entry ? entry.role : null;
    ctx.account = await api.get('/accounts/' + encodeURIComponent(user.selected_account));
  }
}

function matchRoute(path) {
  for (const r of routes) {
    const names = [];
    const pattern = new RegExp('^' + r.path.replace(/:[a-z_]+/g, (m) => {
      names.push(m.slice(1));
      return '([^/]+)';
    }) + '$');
    const m = pattern.exec(path);
    if (m) {
      const params = {};
      names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return { route: r, params };
    }
  }
  return null;
}

function parseHash() {
  const hash = location.hash.replace(/^#/, '') || '/dashboard';
  const [path, search] = hash.split('?');
  return { path, query: Object.fromEntries(new URLSearchParams(search || '')) };
}

async function route() {
  const sequence = ++routeSequence;
  const { path, query } = parseHash();
  const view = document.getElementById('view');
  const found = matchRoute(path);
  current = null;
  if (!ctx.user && !(found && found.route.public)) {
    ctx.navigate('#/login');
    return;
  }
  if (!found) {
    replace(view, errorBox(new Error('No such page: ' + path)));
    return;
  }
  if (found.route.needsAccount && !ctx.account) {
    ctx.navigate('#/accounts');
    return;
  }
  document.title = found.route.title + ' · Cloister';
  markNav(path);
  clear(view);
  try {
    const screen = await found.route.render(view, ctx, found.params, query);
    if (sequence === routeSequence) current = screen || null;
  } catch (error) {
    if (sequence === routeSequence && error.status !== 401) replace(view, errorBox(error));
  }
  const heading = view.querySelector('h1');
  if (heading && sequence === routeSequence && document.activeElement === document.body) heading.focus();
}

function markNav(path) {
  for (const link of document.querySelectorAll('#nav a')) {
    const active = path === link.getAttribute('href').slice(1) ||
      path.startsWith(link.getAttribute('href').slice(1) + '/');
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function selectAccount(acctId) {
  try {
    await api.post('/accounts/select_account/' + encodeURIComponent(acctId));
    await ctx.reloadSession();
    ctx.navigate('#/dashboard');
  } catch (error) {
    toast(error.message, 'error');
  }
}

async function logout() {
  try {
    await api.logout();
  } catch (error) {
    // Already expired: the cookie is cleared by the manager's answer either way.
  }
  ctx.endSession('You have logged out.');
}

// The header (account switcher, user, log-out), the insecure-simulation banner and the nav.
function renderShell() {
  const header = document.getElementById('session');
  const banner = document.getElementById('banner');
  const nav = document.getElementById('nav');
  document.body.classList.toggle('anonymous', !ctx.user);
  if (!ctx.user) {
    clear(header);
    clear(banner);
    banner.hidden = true;
    clear(nav);
    return;
  }
  const switcher = h('select', {
    id: 'account-switcher', 'aria-label': 'Account',
    on: { change: (e) => e.target.value && selectAccount(e.target.value) },
  },
  ctx.account ? null : h('option', { value: '' }, 'Select an account…'),
  ctx.user.accounts.map((a) => h('option', { value: a.acct_id, selected: ctx.account && a.acct_id === ctx.account.acct_id }, a.name)));
  replace(header,
    ctx.user.accounts.length ? switcher : null,
    ctx.role ? h('span', { class: 'role', title: 'Your role in this account' }, ctx.role) : null,
    h('span', { class: 'user', title: ctx.user.user_email }, ctx.user.user_email),
    h('button', { type: 'button', class: 'secondary small', on: { click: logout } }, 'Log out'));
  const insecure = (ctx.account && ctx.account.settings.allow_simulation);
  replace(banner, insecure ? h('div', { class: 'insecure', role: 'note' },
    h('strong', {}, 'INSECURE: '),
    'this account accepts simulated attestation evidence. Any machine can pretend to run an ' +
    'approved image. Turn "allow simulation" off in the account settings for production.') : null);
  // A landmark of its own (axe: all content in landmarks), present only while it warns.
  banner.hidden = !insecure;
  replace(nav, h('ul', {}, NAV.map(([href, label]) =>
    h('li', {}, h('a', { href }, label)))));
  markNav(parseHash().path);
}

function schedulePolling() {
  clearInterval(pollTimer);
  pollTimer = setInterval(async () => {
    if (document.hidden || !current || !current.refresh || document.querySelector('dialog[open]')) return;
    const screen = current;
    try {
      await screen.refresh();
    } catch (error) {
      // A 401 ends the session (onUnauthorized); anything else is shown by the next refresh.
    }
  }, POLL_MS);
}

async function start() {
  onUnauthorized(() => {
    if (ctx.user) ctx.endSession('Your session has expired. Log in again.');
  });
  try {
    ctx.version = await api.get('/sys/version');
  } catch (error) {
    ctx.version = null;
  }
  if (hasSession()) {
    try {
      await loadSession();
    } catch (error) {
      ctx.user = null;
    }
  }
  renderShell();
  // The skip link's "#view" would be read as a route: move the focus to the screen instead.
  document.querySelector('a.skip').addEventListener('click', (event) => {
    event.preventDefault();
    document.getElementById('view').focus();
  });
  window.addEventListener('hashchange', route);
  schedulePolling();
  await route();
}

start();
