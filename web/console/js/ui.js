// Building blocks every screen uses: form fields with their error next to them, tables with
// an empty state, badges, copyable values, dialogs, downloads and formatting.
import { h, append, clear, replace } from './dom.js';

let fieldSequence = 0;

// A labelled form control with its help text and a place for its error.
// spec: {label, name (the JSON path the API names in errors), type: text|email|password|number|
// select|textarea|checkbox, value, required, placeholder, help, options: [[value, label]],
// min, max, step, autocomplete, pattern, rows, readonly}
export function field(spec) {
  const id = 'f' + ++fieldSequence;
  const helpId = id + '-help';
  const errorId = id + '-error';
  const common = {
    id,
    name: spec.name,
    required: spec.required,
    readonly: spec.readonly,
    'aria-describedby': (spec.help ? helpId + ' ' : '') + errorId,
  };
  let control;
  if (spec.type === 'select') {
    control = h('select', common,
      (spec.options || []).map(([value, label]) =>
        h('option', { value, selected: String(value) === String(spec.value ?? '') }, label)));
  } else if (spec.type === 'textarea') {
    control = h('textarea', { ...common, rows: spec.rows || 4, placeholder: spec.placeholder },
      spec.value ?? '');
  } else if (spec.type === 'checkbox') {
    control = h('input', { ...common, type: 'checkbox', checked: Boolean(spec.value) });
  } else {
    control = h('input', {
      ...common,
      type: spec.type || 'text',
      value: spec.value ?? '',
      placeholder: spec.placeholder,
      min: spec.min,
      max: spec.max,
      step: spec.step,
      pattern: spec.pattern,
      autocomplete: spec.autocomplete || 'off',
      spellcheck: 'false',
    });
  }
  const label = h('label', { for: id }, spec.label, spec.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
  const wrapper = h('div', { class: 'field' + (spec.type === 'checkbox' ? ' field-check' : '') },
    spec.type === 'checkbox' ? [control, label] : [label, control],
    spec.help ? h('div', { class: 'help', id: helpId }, spec.help) : null,
    h('div', { class: 'field-error', id: errorId, role: 'alert' }));
  wrapper.control = control;
  return wrapper;
}

// The value of a named control of form: string (trimmed), number for type=number ('' → null),
// boolean for checkboxes.
export function value(form, name) {
  const control = form.elements.namedItem(name);
  if (!control) return undefined;
  if (control.type === 'checkbox') return control.checked;
  if (control.type === 'number') return control.value === '' ? null : Number(control.value);
  return control.value.trim();
}

// A form: fields, a form-level error line and buttons; onSubmit(form) may throw an ApiError,
// shown next to the field it names (else above the buttons). The submit button is disabled
// while it runs.
export function form({ fields, submitLabel = 'Save', onSubmit, cancel, extra }) {
  const formError = h('div', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const node = h('form', { novalidate: true }, fields, extra, formError,
    h('div', { class: 'actions' }, submit,
      cancel ? h('button', { type: 'button', class: 'secondary', on: { click: cancel } }, 'Cancel') : null));
  node.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(node);
    if (!checkRequired(node)) return;
    submit.disabled = true;
    try {
      await onSubmit(node);
    } catch (error) {
      showError(node, error);
    } finally {
      submit.disabled = false;
    }
  });
  return node;
}

// Marks the form's required controls that are empty; true when none is.
function checkRequired(formNode) {
  let ok = true;
  for (const control of formNode.querySelectorAll('[required]')) {
    if (control.type !== 'checkbox' && control.value.trim() === '') {
      fieldError(formNode, control.name, 'required');
      if (ok) control.focus();
      ok = false;
    }
  }
  return ok;
}

export function clearErrors(formNode) {
  for (const e of formNode.querySelectorAll('.field-error, .form-error')) clear(e);
  for (const c of formNode.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

// Shows message next to the control named name (or its closest named ancestor path:
// "advanced_settings.certificate.key_param.size" falls back to "...key_param"); false if the
// form has no such control.
export function fieldError(formNode, name, message) {
  for (let path = name; path; path = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '') {
    const control = formNode.elements.namedItem(path);
    if (control && control.id) {
      const error = document.getElementById(control.id + '-error');
      replace(error, message);
      control.setAttribute('aria-invalid', 'true');
      return true;
    }
  }
  return false;
}

// Shows an error (an ApiError or any Error) in formNode: next to the field it names, else in
// the form-level error line.
export function showError(formNode, error) {
  const message = error.field ? error.reason : error.message;
  if (error.field && fieldError(formNode, error.field, message)) {
    const control = formNode.querySelector('[aria-invalid="true"]');
    if (control) control.focus();
    return;
  }
  replace(formNode.querySelector('.form-error'), errorText(error));
}

export function errorText(error) {
  return error.code && error.status ? `${error.message} (${error.code})` : error.message;
}

// A box showing an error where a list or a detail should be.
export function errorBox(error) {
  return h('div', { class: 'error-box', role: 'alert' }, errorText(error));
}

// A table of items. columns: [{label, value: (item) => string|node, class?}]. empty: what to
// show when there are no items (an emptyState). rowAttrs: (item) => attributes of the row.
export function table({ columns, items, empty, caption, rowAttrs }) {
  if (!items || items.length === 0) return empty || emptyState('Nothing here yet.');
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, items.map((item) =>
        h('tr', rowAttrs ? rowAttrs(item) : {},
          columns.map((c) => h('td', { class: c.class }, c.value(item))))))));
}

// What an empty list says: what it holds, and what to do next (an optional action node).
export function emptyState(title, text, action) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title),
    text ? h('p', {}, text) : null, action || null);
}

// The heading of a screen with its actions on the right.
export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-header' }, h('h1', { tabindex: '-1' }, title),
    h('div', { class: 'page-actions' }, actions));
}

// A link styled as a button.
export function linkButton(href, text, kind = 'primary') {
  return h('a', { href, class: 'button ' + kind }, text);
}

export function button(text, onClick, kind = 'secondary', attrs = {}) {
  return h('button', { type: 'button', class: kind, ...attrs, on: { click: onClick } }, text);
}

const BADGE_KINDS = {
  RUNNING: 'ok', ISSUED: 'ok', SUCCESS: 'ok', WHITELISTED: 'ok', APPROVED: 'ok', ACTIVE: 'ok',
  UpToDate: 'ok', INPROGRESS: 'warn', PENDING: 'warn', CONVERTING: 'warn', STOPPED: 'muted',
  EXPIRED: 'muted', UNKNOWN: 'muted', DEACTIVATED: 'bad', REJECTED: 'bad', DENIED: 'bad',
  FAILED: 'bad', REVOKED: 'bad', INSECURE: 'bad', SIM: 'bad',
};

export function badge(text, kind) {
  return h('span', { class: 'badge badge-' + (kind || BADGE_KINDS[text] || 'info') }, text);
}

// A value shown in full in monospace with a Copy button (measurements, tokens, commands).
export function copyable(text, label) {
  const status = h('span', { class: 'copy-status', role: 'status' });
  return h('div', { class: 'copyable' },
    h('code', { 'aria-label': label || null }, text),
    h('button', {
      type: 'button', class: 'secondary small',
      'aria-label': 'Copy' + (label ? ' ' + label : ''),
      on: { click: async () => {
        try {
          await navigator.clipboard.writeText(text);
          replace(status, 'Copied');
        } catch (e) {
          selectText(status.parentNode.querySelector('code'));
          replace(status, 'Press Ctrl+C to copy');
        }
        setTimeout(() => clear(status), 2000);
      } },
    }, 'Copy'), status);
}

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

// A modal dialog; resolves to the value of the button pressed (or null when dismissed).
// body: nodes; buttons: [{label, value, kind}]. With `input` ({label, name, required}), resolves
// to the text entered instead (null when cancelled).
export function dialog({ title, body, buttons, input }) {
  return new Promise((resolve) => {
    const inputField = input ? field({ type: 'textarea', rows: 3, ...input }) : null;
    const node = h('dialog', { class: 'dialog', 'aria-labelledby': 'dialog-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'dialog-title' }, title),
        body,
        inputField,
        h('div', { class: 'actions' }, buttons.map((b) =>
          h('button', { value: b.value, class: b.kind || 'secondary', type: 'submit' }, b.label)))));
    node.addEventListener('close', () => {
      const chosen = node.returnValue;
      node.remove();
      if (!chosen || chosen === 'cancel') resolve(null);
      else resolve(inputField ? inputField.control.value.trim() : chosen);
    });
    document.body.append(node);
    node.showModal();
  });
}

// Asks to confirm a destructive action; resolves true when confirmed.
export async function confirmAction(title, text, confirmLabel = 'Delete') {
  const chosen = await dialog({
    title,
    body: h('p', {}, text),
    buttons: [
      { label: 'Cancel', value: 'cancel' },
      { label: confirmLabel, value: 'confirm', kind: 'danger' },
    ],
  });
  return chosen === 'confirm';
}

// A write started from button once the user confirmed it: the button is disabled meanwhile; on
// success a toast says doneMessage and onDone() reloads; on failure the error shows in errorNode
// and onDone() still reloads (e.g. a 409: the screen then shows the state that made it fail).
export async function runConfirmedAction(button, errorNode, call, doneMessage, onDone) {
  button.disabled = true;
  try {
    await call();
    toast(doneMessage);
    await onDone();
  } catch (e) {
    replace(errorNode, errorText(e));
    onDone().catch(() => null);
  } finally {
    button.disabled = false;
  }
}

// Saves text as a file the browser downloads.
export function download(filename, text, type = 'text/plain') {
  const link = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: filename });
  // Clicked while briefly attached (older browsers download only from attached links), then
  // removed at once: a nameless link must not linger in the page.
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// A short message in the shared live region (read by screen readers, shown briefly).
export function toast(message, kind = 'info') {
  const region = document.getElementById('toasts');
  const node = h('div', { class: 'toast toast-' + kind, role: kind === 'error' ? 'alert' : 'status' }, message);
  region.append(node);
  setTimeout(() => node.remove(), 5000);
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return h('time', { datetime: iso, title: iso }, d.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }));
}

// "3 minutes ago" style text for last-seen columns.
export function fmtAgo(iso) {
  if (!iso) return 'never';
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return Math.max(seconds, 0) + ' s ago';
  if (seconds < 3600) return Math.round(seconds / 60) + ' min ago';
  if (seconds < 86400) return Math.round(seconds / 3600) + ' h ago';
  return Math.round(seconds / 86400) + ' days ago';
}

const UNITS = [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]];

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  for (const [unit, size] of UNITS) if (n >= size && n % size === 0) return n / size + ' ' + unit + 'iB';
  for (const [unit, size] of UNITS) if (n >= size) return (n / size).toFixed(1) + ' ' + unit + 'iB';
  return n + ' B';
}

// "1G", "512M", "1 GiB", "1073741824" → bytes; NaN when it is none of those.
export function parseSize(text) {
  const m = /^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$/i.exec(text || '');
  if (!m) return NaN;
  const unit = UNITS.find(([u]) => u === m[2].toUpperCase());
  return Number(m[1]) * (unit ? unit[1] : 1);
}

// Tabs as links (the current one marked); items: [{label, href, current}].
export function tabs(items) {
  return h('nav', { class: 'tabs', 'aria-label': 'Views' }, items.map((t) =>
    h('a', { href: t.href, class: t.current ? 'tab current' : 'tab', 'aria-current': t.current ? 'page' : null }, t.label)));
}

// What one poll of a list screen reads, however large the account.
const PAGE_SIZE = 50;

// The page a polled list screen shows: query() gives the limit and offset to ask for, and
// pagerFor(list) the pager under the table, or null while one page holds everything. Turning
// the page calls onChange(); so does a page emptied since (rows deleted elsewhere), back to the
// first page.
export function paging(onChange) {
  const state = {
    offset: 0,
    query: () => ({ limit: PAGE_SIZE, offset: state.offset }),
    reset: () => { state.offset = 0; },
    pagerFor: (list) => {
      if (!list.items.length && state.offset > 0) {
        state.offset = 0;
        setTimeout(onChange);
        return null;
      }
      if (list.metadata.filtered_count <= PAGE_SIZE && state.offset === 0) return null;
      return pager(list.metadata, list.items.length, PAGE_SIZE, (o) => { state.offset = o; onChange(); });
    },
  };
  return state;
}

// "Previous / Next" paging with "x–y of n" for a list answer's metadata, count items shown and
// pages of pageSize; onPage(newOffset).
export function pager(metadata, count, pageSize, onPage) {
  const { offset, filtered_count: total } = metadata;
  return h('div', { class: 'pager' },
    h('span', { role: 'status' }, total ? `${offset + 1}–${offset + count} of ${total}` : '0 of 0'),
    button('Previous', () => onPage(Math.max(0, offset - pageSize)), 'secondary small',
      { disabled: offset === 0 }),
    button('Next', () => onPage(offset + pageSize), 'secondary small',
      { disabled: offset + count >= total }));
}

// A description list of [term, value] pairs for detail screens.
export function details(pairs) {
  return h('dl', { class: 'details' }, pairs.filter(Boolean).map(([term, val]) =>
    [h('dt', {}, term), h('dd', {}, val ?? '—')]));
}

export { h, append, clear, replace };
