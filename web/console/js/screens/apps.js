// Applications: the list, the add/edit form (SPEC 1 steps 2 and 3: the app and its certificate
// configuration) and one app's page with its domains, their approval and its images (builds).
import {
  h, replace, field, form, value, table, emptyState, pageHeader, linkButton, button, badge,
  confirmAction, toast, fmtTime, fmtBytes, parseSize, details, errorBox, errorText, fieldError,
  paging,
} from '../ui.js';

const CERT = 'advanced_settings.certificate';
const DEFAULT_KEY_PATH = '/appkey.pem';
const DEFAULT_CERT_PATH = '/appcert.pem';

// ---- small conversions between API values and form text ----

// "a, b\nc" → ['a', 'b', 'c'] (lists where no item can contain a comma: domains).
function splitList(text) {
  return (text || '').split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

// One item per line (entrypoint arguments and environment values may contain commas).
function splitLines(text) {
  return (text || '').split('\n').map((s) => s.trim()).filter(Boolean);
}

function joinLines(items) {
  return (items || []).join('\n');
}

// "key=value" lines → object; throws naming the bad line.
function parseLabels(text) {
  const labels = {};
  for (const line of splitLines(text)) {
    const at = line.indexOf('=');
    if (at <= 0) throw fieldProblem('labels', `"${line}" is not key=value`);
    labels[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return labels;
}

function labelsText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => k + '=' + v).join('\n');
}

// Bytes → the shortest text parseSize reads back ("1G", "512M").
function sizeText(bytes) {
  if (!bytes) return '';
  for (const [unit, size] of [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]]) {
    if (bytes % size === 0) return bytes / size + unit;
  }
  return String(bytes);
}

// An error form() shows next to the field named name (same shape as an ApiError).
function fieldProblem(name, reason) {
  const error = new Error(name + ': ' + reason);
  error.field = name;
  error.reason = reason;
  return error;
}

function memSizeError(text) {
  const bytes = parseSize(text);
  if (Number.isNaN(bytes)) return 'not a size: write e.g. 1G, 512M or a number of bytes';
  if (bytes & (bytes - 1) || bytes <= 0) return 'must be a power of two (e.g. 256M, 1G, 4G)';
  return null;
}

// ---- domains ----

// The domains the app asks for, each with its approval state.
function domainRows(app) {
  const approved = new Set(app.whitelisted_domains || []);
  return (app.allowed_domains || []).map((d) => ({ domain: d, approved: approved.has(d) }));
}

// Not yet approved: waiting while the app has a pending domain task; otherwise its task was
// denied or failed, and only a new change of the app's domains raises another.
function domainBadge(app, row) {
  if (row.approved) return badge('approved', 'ok');
  return app.pending_task_id ? badge('pending approval', 'warn') : badge('not approved', 'bad');
}

function domainBadges(app) {
  const rows = domainRows(app);
  if (!rows.length) return h('span', { class: 'muted' }, 'none');
  return h('ul', { class: 'domain-list' }, rows.map((r) => h('li', {},
    h('span', { class: 'mono' }, r.domain), ' ', domainBadge(app, r))));
}

function taskLink(taskId, text = 'Pending task') {
  return taskId ? h('a', { href: '#/tasks/' + encodeURIComponent(taskId) }, text) : '—';
}

// ---- list ----

async function renderList(view, ctx) {
  const canWrite = ctx.can('WRITER');
  const body = h('div', {});
  view.append(
    pageHeader('Applications', canWrite ? linkButton('#/apps/new', 'Add application') : null),
    h('p', { class: 'help' }, 'An application describes a container image to run confidentially: ' +
      'the image to convert, its enclave settings and the domains its certificate names.'),
    body);
  let last = null;
  const pages = paging(() => load());
  const load = async () => {
    const list = await ctx.api.get('/apps', pages.query());
    // Redraw only on change, so keyboard focus on a link survives the polling.
    const now = JSON.stringify(list);
    if (now === last) return;
    last = now;
    replace(body, table({
      caption: 'Applications',
      items: list.items,
      columns: [
        { label: 'Name', value: (a) => h('a', { href: '#/apps/' + encodeURIComponent(a.app_id) }, a.name) },
        { label: 'Input → output image', value: (a) => h('span', { class: 'mono' },
          a.input_image_name, ' → ', a.output_image_name) },
        { label: 'Domains', value: domainBadges },
        { label: 'Pending task', value: (a) => taskLink(a.pending_task_id) },
        { label: 'Created', value: (a) => fmtTime(a.created_at) },
      ],
      empty: emptyState('No applications yet.',
        'Add one to describe the container image you want to run confidentially.',
        canWrite ? linkButton('#/apps/new', 'Add application') : null),
    }), pages.pagerFor(list));
  };
  await load();
  return { refresh: load };
}

// ---- add / edit form ----

function keyParamFields(cert) {
  const param = (cert && cert.key_param) || {};
  return [
    field({
      label: 'RSA key size', name: CERT + '.key_param.size', type: 'select',
      value: param.size || 2048, options: [[2048, '2048 bits'], [3072, '3072 bits'], [4096, '4096 bits']],
    }),
    field({
      label: 'EC curve', name: CERT + '.key_param.curve', type: 'select',
      value: param.curve || 'P-256', options: [['P-256', 'P-256'], ['P-384', 'P-384']],
    }),
  ];
}

function certificateFieldset(cert) {
  const c = cert || {};
  const subject = c.subject || '';
  const [sizeField, curveField] = keyParamFields(c);
  const keyType = field({
    label: 'Key type', name: CERT + '.key_type', type: 'select', value: c.key_type || 'RSA',
    options: [['RSA', 'RSA'], ['EC', 'EC (elliptic curve)']],
  });
  // Only the parameter of the chosen key type is shown (and sent).
  const sync = () => {
    const ec = keyType.control.value === 'EC';
    sizeField.hidden = ec;
    curveField.hidden = !ec;
  };
  keyType.control.addEventListener('change', sync);
  sync();
  return h('fieldset', {},
    h('legend', {}, 'Certificate'),
    h('p', { class: 'help' }, 'The certificate the manager issues to the app once its image is ' +
      'attested. Leave the domain and additional domains empty for an app without a certificate. ' +
      'A new domain needs approval (a domain approval task).'),
    field({
      label: 'Domain', name: CERT + '.subject', value: subject, placeholder: 'myapp.domain.dom',
      help: 'The certificate\'s subject; it is also the app\'s domain.',
    }),
    field({
      label: 'Additional domains', name: CERT + '.alt_names', type: 'textarea', rows: 2,
      value: joinLines(c.alt_names), help: 'One per line or comma separated.',
    }),
    field({
      label: 'Issuer', name: CERT + '.issuer', value: 'Manager CA', readonly: true,
      help: 'The manager\'s certificate authority (MANAGER_CA) issues every app certificate.',
    }),
    keyType, sizeField, curveField,
    field({
      label: 'Key path', name: CERT + '.key_path', value: c.key_path || DEFAULT_KEY_PATH,
      help: 'Where the app finds its private key (absolute path inside the container).',
    }),
    field({
      label: 'Certificate path', name: CERT + '.cert_path', value: c.cert_path || DEFAULT_CERT_PATH,
    }),
    field({
      label: 'Chain path', name: CERT + '.chain_path', value: c.chain_path || '',
      help: 'Optional: where to write the issuing CA chain.',
    }));
}

function advancedSection(app) {
  const adv = app.advanced_settings || {};
  const ca = adv.ca_certificate || {};
  const policy = app.attestation_policy && Object.keys(app.attestation_policy).length
    ? JSON.stringify(app.attestation_policy, null, 2) : '';
  return h('details', { class: 'advanced' },
    h('summary', {}, 'Advanced'),
    h('fieldset', {},
      h('legend', {}, 'Advanced'),
      field({
        label: 'Entrypoint', name: 'advanced_settings.entrypoint', type: 'textarea', rows: 3,
        value: joinLines(adv.entrypoint), help: 'One argument per line; empty keeps the image\'s.',
      }),
      field({
        label: 'Allow command-line arguments', name: 'advanced_settings.allow_cmdline_args',
        type: 'checkbox', value: adv.allow_cmdline_args,
        help: 'Lets whoever starts the container change the arguments (they are not measured).',
      }),
      field({
        label: 'Environment (manifest)', name: 'advanced_settings.manifest_env', type: 'textarea',
        rows: 3, value: joinLines(adv.manifest_env),
        help: 'One per line: NAME=value (fixed, measured) or NAME (passed through from the host).',
      }),
      field({
        label: 'Encrypted directories', name: 'advanced_settings.encrypted_dirs', type: 'textarea',
        rows: 2, value: joinLines(adv.encrypted_dirs), help: 'Absolute paths, one per line.',
      }),
      field({
        label: 'Read-write directories', name: 'advanced_settings.rw_dirs', type: 'textarea',
        rows: 2, value: joinLines(adv.rw_dirs), help: 'Absolute paths, one per line.',
      }),
      field({
        label: 'CA certificate path', name: 'advanced_settings.ca_certificate.ca_path',
        value: ca.ca_path || '', help: 'Optional: where to write the manager\'s CA certificate.',
      }),
      field({
        label: 'Add the CA to the system trust store', name: 'advanced_settings.ca_certificate.system',
        type: 'checkbox', value: ca.system,
      }),
      field({
        label: 'Attestation policy override', name: 'attestation_policy', type: 'textarea', rows: 3,
        value: policy, placeholder: '{"min_isvsvn": 2}',
        help: 'Optional JSON object: the members of the account\'s attestation policy this app ' +
          'overrides (empty: none).',
      })));
}

function appFields(app) {
  return [
    field({ label: 'Name', name: 'name', required: true, value: app.name }),
    field({ label: 'Description', name: 'description', type: 'textarea', rows: 2, value: app.description }),
    field({
      label: 'Input image', name: 'input_image_name', required: true, value: app.input_image_name,
      placeholder: 'registry.example.com/team/myapp', help: 'The image to convert.',
    }),
    field({
      label: 'Output image', name: 'output_image_name', required: true, value: app.output_image_name,
      placeholder: 'registry.example.com/team/myapp-confidential',
      help: 'Where the converted image is pushed.',
    }),
    field({
      label: 'ISVPRODID', name: 'isvprodid', type: 'number', required: true, min: 0, max: 65535,
      value: app.isvprodid ?? '', help: 'Product id, 0–65535.',
    }),
    field({
      label: 'ISVSVN', name: 'isvsvn', type: 'number', required: true, min: 0, max: 65535,
      value: app.isvsvn ?? '', help: 'Security version number, 0–65535.',
    }),
    field({
      label: 'Memory size', name: 'mem_size', required: true, value: sizeText(app.mem_size),
      placeholder: '1G', help: 'A power of two, e.g. 512M, 1G, 4G.',
    }),
    field({
      label: 'Threads', name: 'threads', type: 'number', required: true, min: 1, max: 4096,
      value: app.threads ?? '', placeholder: '128',
    }),
    field({
      label: 'Allowed domains', name: 'allowed_domains', type: 'textarea', rows: 2,
      value: joinLines(app.allowed_domains),
      help: 'One per line or comma separated (*.example.com allowed). The certificate\'s domains ' +
        'are added to them.',
    }),
    field({
      label: 'Labels', name: 'labels', type: 'textarea', rows: 2, value: labelsText(app.labels),
      help: 'key=value, one per line.',
    }),
  ];
}

function certificateBody(f) {
  const subject = value(f, CERT + '.subject');
  const altNames = splitList(value(f, CERT + '.alt_names'));
  if (!subject && !altNames.length) return null;
  const keyType = value(f, CERT + '.key_type');
  const cert = {
    issuer: 'MANAGER_CA',
    key_type: keyType,
    key_param: keyType === 'EC'
      ? { curve: value(f, CERT + '.key_param.curve') }
      : { size: Number(value(f, CERT + '.key_param.size')) },
    key_path: value(f, CERT + '.key_path'),
    cert_path: value(f, CERT + '.cert_path'),
  };
  if (subject) cert.subject = subject;
  if (altNames.length) cert.alt_names = altNames;
  const chain = value(f, CERT + '.chain_path');
  if (chain) cert.chain_path = chain;
  return cert;
}

function advancedBody(f) {
  const adv = {};
  const cert = certificateBody(f);
  if (cert) adv.certificate = cert;
  const entrypoint = splitLines(value(f, 'advanced_settings.entrypoint'));
  if (entrypoint.length) adv.entrypoint = entrypoint;
  if (value(f, 'advanced_settings.allow_cmdline_args')) adv.allow_cmdline_args = true;
  for (const key of ['manifest_env', 'encrypted_dirs', 'rw_dirs']) {
    const items = splitLines(value(f, 'advanced_settings.' + key));
    if (items.length) adv[key] = items;
  }
  const caPath = value(f, 'advanced_settings.ca_certificate.ca_path');
  const system = value(f, 'advanced_settings.ca_certificate.system');
  if (caPath || system) adv.ca_certificate = { ...(caPath ? { ca_path: caPath } : {}), system };
  return adv;
}

function policyBody(f) {
  const text = value(f, 'attestation_policy');
  if (!text) return {};
  let policy;
  try {
    policy = JSON.parse(text);
  } catch (e) {
    throw fieldProblem('attestation_policy', 'not valid JSON: ' + e.message);
  }
  if (!policy || typeof policy !== 'object' || Array.isArray(policy)) {
    throw fieldProblem('attestation_policy', 'must be a JSON object');
  }
  return policy;
}

// The whole app as the API takes it; PATCH sends the same (arrays and objects are replaced whole).
function appBody(f) {
  const memError = memSizeError(value(f, 'mem_size'));
  if (memError) throw fieldProblem('mem_size', memError);
  return {
    name: value(f, 'name'),
    description: value(f, 'description'),
    input_image_name: value(f, 'input_image_name'),
    output_image_name: value(f, 'output_image_name'),
    isvprodid: value(f, 'isvprodid'),
    isvsvn: value(f, 'isvsvn'),
    mem_size: parseSize(value(f, 'mem_size')),
    threads: value(f, 'threads'),
    allowed_domains: splitList(value(f, 'allowed_domains')),
    labels: parseLabels(value(f, 'labels')),
    advanced_settings: advancedBody(f),
    attestation_policy: policyBody(f),
  };
}

async function renderForm(view, ctx, params) {
  const editing = Boolean(params.id);
  const app = editing ? await ctx.api.get('/apps/' + encodeURIComponent(params.id)) : {};
  const title = editing ? 'Edit ' + app.name : 'Add application';
  if (!ctx.can('WRITER')) {
    view.append(pageHeader(title), errorBox(new Error('Your role in this account (' + ctx.role +
      ') cannot change applications: a WRITER or MANAGER can.')));
    return;
  }
  const back = editing ? '#/apps/' + encodeURIComponent(params.id) : '#/apps';
  const node = form({
    fields: [...appFields(app), certificateFieldset((app.advanced_settings || {}).certificate),
      advancedSection(app)],
    submitLabel: editing ? 'Save' : 'Add application',
    cancel: () => ctx.navigate(back),
    onSubmit: async (f) => {
      const body = appBody(f);
      let saved;
      try {
        saved = editing
          ? await ctx.api.patch('/apps/' + encodeURIComponent(params.id), body)
          : await ctx.api.post('/apps', body);
      } catch (error) {
        // The only unique field of an app is its name; the 409 message does not name the path.
        if (error.code === 'UNIQUE_VIOLATION' && !error.field) {
          error.field = 'name';
          error.reason = error.message;
        }
        throw error;
      }
      toast(editing ? 'Application saved.' : 'Application added.');
      ctx.navigate('#/apps/' + encodeURIComponent(saved.app_id));
    },
  });
  // The memory size is checked as it is typed, not only on submit.
  const mem = node.elements.namedItem('mem_size');
  mem.addEventListener('change', () => {
    const error = memSizeError(mem.value);
    if (error) fieldError(node, 'mem_size', error);
    else {
      replace(document.getElementById(mem.id + '-error'));
      mem.removeAttribute('aria-invalid');
    }
  });
  view.append(pageHeader(title), node);
}

// ---- detail ----

function certificatePairs(cert) {
  if (!cert) return [['Certificate', 'none (no domain configured)']];
  const param = cert.key_param || {};
  return [
    ['Domain', cert.subject || '—'],
    ['Additional domains', (cert.alt_names || []).join(', ') || '—'],
    ['Issuer', cert.issuer === 'MANAGER_CA' ? 'Manager CA' : cert.issuer],
    ['Key', cert.key_type + ' ' + (param.size ? param.size + ' bits' : param.curve || '')],
    ['Key path', h('span', { class: 'mono' }, cert.key_path)],
    ['Certificate path', h('span', { class: 'mono' }, cert.cert_path)],
    ['Chain path', cert.chain_path ? h('span', { class: 'mono' }, cert.chain_path) : '—'],
  ];
}

function listOrDash(items) {
  return items && items.length ? h('span', { class: 'mono' }, items.join(' ')) : '—';
}

function advancedPairs(adv, app) {
  const ca = adv.ca_certificate;
  const policy = app.attestation_policy || {};
  return [
    ['Entrypoint', listOrDash(adv.entrypoint)],
    ['Command-line arguments', adv.allow_cmdline_args ? 'allowed' : 'not allowed'],
    ['Environment', adv.manifest_env && adv.manifest_env.length
      ? h('ul', { class: 'plain' }, adv.manifest_env.map((e) => h('li', { class: 'mono' }, e))) : '—'],
    ['Encrypted directories', listOrDash(adv.encrypted_dirs)],
    ['Read-write directories', listOrDash(adv.rw_dirs)],
    ['CA certificate', ca ? [ca.ca_path ? h('span', { class: 'mono' }, ca.ca_path) : '',
      ca.system ? ' (added to the system trust store)' : ''] : '—'],
    ['Attestation policy override', Object.keys(policy).length
      ? h('span', { class: 'mono' }, JSON.stringify(policy)) : 'none (the account\'s policy)'],
  ];
}

function appPairs(app) {
  return [
    ['Name', app.name],
    ['Description', app.description || '—'],
    ['Input image', h('span', { class: 'mono' }, app.input_image_name)],
    ['Output image', h('span', { class: 'mono' }, app.output_image_name)],
    ['ISVPRODID', String(app.isvprodid)],
    ['ISVSVN', String(app.isvsvn)],
    ['Memory size', fmtBytes(app.mem_size)],
    ['Threads', String(app.threads)],
    ['Labels', Object.keys(app.labels || {}).length ? h('span', { class: 'mono' }, labelsText(app.labels)
      .split('\n').join(', ')) : '—'],
    ['App id', h('span', { class: 'mono' }, app.app_id)],
    ['Created', fmtTime(app.created_at)],
    ['Updated', fmtTime(app.updated_at)],
  ];
}

function domainsPanel(app) {
  return [
    table({
      caption: 'Domains',
      items: domainRows(app),
      columns: [
        { label: 'Domain', value: (r) => h('span', { class: 'mono' }, r.domain) },
        { label: 'Status', value: (r) => domainBadge(app, r) },
      ],
      empty: emptyState('No domains.', 'Edit the app to give its certificate a domain.'),
    }),
    app.pending_task_id ? h('p', {}, 'Waiting for approval: ',
      taskLink(app.pending_task_id, 'domain approval task')) : null,
    !app.pending_task_id && domainRows(app).some((r) => !r.approved)
      ? h('p', { class: 'help' }, 'The last domain approval task was denied or failed (see ',
        h('a', { href: '#/tasks?status=DENIED' }, 'denied tasks'), '). Saving the app again asks for ' +
        'approval again.') : null,
  ];
}

function buildsPanel(app, builds, canWrite) {
  const create = canWrite ? linkButton('#/builds/new?app_id=' + encodeURIComponent(app.app_id),
    'Create image') : null;
  return table({
    caption: 'Images of ' + app.name,
    items: builds,
    columns: [
      { label: 'Image', value: (b) => h('a', { href: '#/builds/' + encodeURIComponent(b.build_id) },
        (b.docker_info && b.docker_info.docker_version) || b.build_id.slice(0, 8)) },
      { label: 'Status', value: (b) => [badge(b.status.status), b.status.status === 'CONVERTING'
        ? [' ', (b.conversion && b.conversion.progress) || 0, '%'] : null] },
      { label: 'Platform', value: (b) => b.platform || '—' },
      { label: 'Measurement', value: (b) => b.enclave_info && b.enclave_info.mrenclave
        ? h('span', { class: 'mono', title: b.enclave_info.mrenclave },
          b.enclave_info.mrenclave.slice(0, 16) + '…')
        : '—' },
      { label: 'Running', value: (b) => String((b.deployment_status && b.deployment_status.count) || 0) },
      { label: 'Created', value: (b) => fmtTime(b.created_at) },
    ],
    empty: emptyState('No images yet.', 'Create an image: the manager converts the input image, ' +
      'pushes it to the output image and records its measurement.', create),
  });
}

async function renderDetail(view, ctx, params) {
  const id = encodeURIComponent(params.id);
  const load = () => Promise.all([ctx.api.get('/apps/' + id),
    ctx.api.get('/builds', { app_id: params.id, limit: 1000 })]);
  let [app, builds] = await load();
  const canWrite = ctx.can('WRITER');
  const actionError = h('span', { class: 'form-error', role: 'alert' });
  const remove = async () => {
    replace(actionError);
    if (!await confirmAction('Delete ' + app.name + '?', 'This deletes the application and all its ' +
      'images; their pending approval tasks fail. Running instances get no new certificates.')) return;
    try {
      await ctx.api.del('/apps/' + id);
      toast('Application deleted.');
      ctx.navigate('#/apps');
    } catch (error) {
      replace(actionError, errorText(error));
    }
  };
  const domains = h('div', {}, domainsPanel(app));
  const buildList = h('div', {}, buildsPanel(app, builds.items, canWrite));
  view.append(
    pageHeader(app.name,
      canWrite ? linkButton('#/builds/new?app_id=' + id, 'Create image') : null,
      canWrite ? linkButton('#/apps/' + id + '/edit', 'Edit', 'secondary') : null,
      canWrite ? button('Delete', remove, 'danger') : null),
    actionError,
    h('section', { class: 'panel' }, details(appPairs(app))),
    h('h2', {}, 'Domains'), domains,
    h('h2', {}, 'Images'), buildList,
    h('h2', {}, 'Certificate'),
    h('section', { class: 'panel' }, details(certificatePairs((app.advanced_settings || {}).certificate))),
    h('h2', {}, 'Advanced'),
    h('section', { class: 'panel' }, details(advancedPairs(app.advanced_settings || {}, app))));
  let last = JSON.stringify([app, builds.items]);
  return {
    // Approvals and conversions change while the page is open: only these two parts are redrawn,
    // and only when they changed (so focus survives).
    refresh: async () => {
      [app, builds] = await load();
      const now = JSON.stringify([app, builds.items]);
      if (now === last) return;
      last = now;
      replace(domains, domainsPanel(app));
      replace(buildList, buildsPanel(app, builds.items, canWrite));
    },
  };
}

export const routes = [
  { path: '/apps', title: 'Applications', needsAccount: true, render: renderList },
  { path: '/apps/new', title: 'Add application', needsAccount: true, render: renderForm },
  { path: '/apps/:id', title: 'Application', needsAccount: true, render: renderDetail },
  { path: '/apps/:id/edit', title: 'Edit application', needsAccount: true, render: renderForm },
];
