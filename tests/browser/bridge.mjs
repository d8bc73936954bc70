// Drives Debian's Chromium with playwright-core for the Python browser tests (browser.py):
// reads one JSON command per line on stdin, answers one JSON line per command on stdout.
//
// It also watches every page for what the console must never do (issue 7): console errors and
// warnings, uncaught exceptions, failed requests, HTTP error answers (the tests say which they
// provoked), and any request to another origin, which is aborted before it leaves.
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// axe-core (Deque's accessibility engine), evaluated in the page through the DevTools protocol:
// the console's Content-Security-Policy rightly refuses any injected <script>.
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// WCAG 2.1 A and AA (labels, names, contrast, keyboard access, landmarks) plus axe's best practices.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
];

let browser = null;
let origin = null;
let artifacts = null;
const pages = new Map(); // id → {context, page}
const issues = []; // what the tests check at the end: {page, kind, ...}
let nextPage = 1;

function record(pageId, kind, details) {
  issues.push({ page: pageId, kind, ...details });
}

async function launch({ origin: o, spki, artifactsDir }) {
  origin = o;
  artifacts = artifactsDir;
  mkdirSync(artifacts, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Trust exactly the manager's TLS key (a self-signed certificate), nothing else.
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spki}`],
  });
  return { version: browser.version() };
}

function watch(id, context, page) {
  context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin || url.startsWith('blob:') || url.startsWith('data:')) {
      return route.continue();
    }
    record(id, 'external-request', { url });
    return route.abort('blockedbyclient');
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      record(id, 'console-' + msg.type(), { text: msg.text(), url: msg.location().url });
    }
  });
  page.on('pageerror', (error) => record(id, 'page-error', { text: String(error.stack || error) }));
  page.on('requestfailed', (request) => {
    const failure = request.failure();
    // Our own abort of an external request is recorded above; a navigation away from a
    // pending poll aborts it (net::ERR_ABORTED) and is no failure.
    if (failure && /ERR_ABORTED|blockedbyclient|ERR_BLOCKED_BY_CLIENT/.test(failure.errorText)) return;
    record(id, 'request-failed', { url: request.url(), method: request.method(), error: failure && failure.errorText });
  });
  page.on('response', (response) => {
    if (response.status() >= 400) {
      record(id, 'http-error', { url: response.url(), method: response.request().method(), status: response.status() });
    }
  });
}

async function newPage({ viewport }) {
  const context = await browser.newContext({
    viewport: viewport || { width: 1280, height: 860 },
    acceptDownloads: true,
    serviceWorkers: 'block',
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  const id = nextPage++;
  watch(id, context, page);
  pages.set(id, { context, page });
  return { page: id };
}

function pageOf(id) {
  const entry = pages.get(id);
  if (!entry) throw new Error('no page ' + id);
  return entry.page;
}

// {page, selector?, nth?, method, args}: page[method](...args), or the locator's.
async function call({ page: id, selector, nth, method, args }) {
  const page = pageOf(id);
  let target = page;
  if (selector) {
    target = page.locator(selector);
    if (nth !== undefined && nth !== null) target = target.nth(nth);
  }
  if (typeof target[method] !== 'function') throw new Error('no method ' + method);
  return plain(await target[method](...(args || [])));
}

// What can go back as JSON: values, arrays and plain objects; null for Playwright objects.
function plain(value) {
  if (value === undefined) return null;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.getPrototypeOf(value) === Object.prototype ? value : null;
}

// {page, method, args}: page.keyboard[method](...args) — keys go to whatever has the focus,
// as a keyboard user's do (press 'Tab', type 'text').
async function keyboard({ page: id, method, args }) {
  const keys = pageOf(id).keyboard;
  if (!['press', 'type', 'down', 'up'].includes(method)) throw new Error('no keyboard method ' + method);
  return plain(await keys[method](...(args || [])));
}

async function screenshot({ page: id, name }) {
  const path = join(artifacts, name + '.png');
  await pageOf(id).screenshot({ path, fullPage: true });
  return { path };
}

async function download({ page: id, selector, name }) {
  const page = pageOf(id);
  const [file] = await Promise.all([page.waitForEvent('download'), page.locator(selector).click()]);
  const path = join(artifacts, name || file.suggestedFilename());
  await file.saveAs(path);
  return { path, suggested: file.suggestedFilename() };
}

// {page}: the axe-core violations of what the page shows now, as
// [{id, impact, help, nodes: [{target, summary}]}].
async function audit({ page: id }) {
  const page = pageOf(id);
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
  }, AXE_TAGS);
}

async function closePage({ page: id }) {
  const entry = pages.get(id);
  if (entry) await entry.context.close();
  pages.delete(id);
  return null;
}

function takeIssues() {
  return issues.splice(0, issues.length);
}

const OPS = { launch, newPage, call, keyboard, screenshot, audit, download, closePage, issues: takeIssues };

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const command = JSON.parse(line);
  let answer;
  try {
    if (command.op === 'quit') break;
    const op = OPS[command.op];
    if (!op) throw new Error('unknown op ' + command.op);
    answer = { id: command.id, ok: true, result: await op(command) };
  } catch (error) {
    answer = { id: command.id, ok: false, error: String(error.message || error) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
if (browser) await browser.close();
