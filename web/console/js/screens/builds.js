// Images (the API's builds): the list, "Create image" (SPEC 1 step 4: the manager converts the
// app's input image and pushes it), registering a build measured elsewhere, and one image's page
// with its live conversion progress and log, its measurement and where it runs.
import {
  h, replace, field, form, value, table, emptyState, pageHeader, linkButton, button, badge,
  copyable, confirmAction, toast, fmtTime, fmtBytes, parseSize, details, errorText,
  paging,
} from '../ui.js';

const STATUSES = ['CONVERTING', 'PENDING', 'WHITELISTED', 'REJECTED', 'FAILED'];

// What each status means for whoever reads the list.
const STATUS_HELP = {
  CONVERTING: 'The manager is converting the image.',
  PENDING: 'Converted; waiting for approval (image approval task).',
  WHITELISTED: 'Approved: instances of this image get certificates.',
  REJECTED: 'Denied: instances of this image get no certificate.',
  FAILED: 'The conversion failed.',
};

function imageName(b) {
  const d = b.docker_info || {};
  if (!d.docker_image_name) return '—';
  return d.docker_image_name + (d.docker_version ? ':' + d.docker_version : '');
}

function shortHex(hex) {
  return hex ? h('span', { class: 'mono', title: hex }, hex.slice(0, 12) + '…') : '—';
}

function statusCell(b) {
  const s = b.status.status;
  const progress = (b.conversion && b.conversion.progress) || 0;
  return h('span', { class: 'status-cell' }, badge(s),
    s === 'CONVERTING'
      ? [' ', h('progress', { max: 100, value: progress, 'aria-label': 'Conversion progress' }),
      ' ', progress + '%'] : null);
}

// ---- list ----

async function renderList(view, ctx, params, query) {
  const canWrite = ctx.can('WRITER');
  const status = STATUSES.includes(query.status) ? query.status : '';
  const filter = h('form', { class: 'filters', role: 'search' },
    field({
      label: 'Status', name: 'status', type: 'select', value: status,
      options: [['', 'All'], ...STATUSES.map((s) => [s, s])],
    }));
  filter.addEventListener('change', () => {
    const s = value(filter, 'status');
    ctx.navigate('#/builds' + (s ? '?status=' + s : ''));
  });
  filter.addEventListener('submit', (e) => e.preventDefault());
  const body = h('div', {});
  view.append(
    pageHeader('Images', canWrite ? linkButton('#/builds/new', 'Create image') : null),
    h('p', { class: 'help' }, 'An image is a converted application image with its measurement. ' +
      'Once approved, its instances receive certificates.'),
    filter, body);
  let last = null;
  const pages = paging(() => load());
  const load = async () => {
    const list = await ctx.api.get('/builds', { status, ...pages.query() });
    // Redraw only on change, so keyboard focus on a link survives the polling.
    const now = JSON.stringify(list);
    if (now === last) return;
    last = now;
    replace(body, table({
      caption: 'Images',
      items: list.items,
      columns: [
        { label: 'Application',
          value: (b) => h('a', { href: '#/apps/' + encodeURIComponent(b.app_id) }, b.app_name) },
        { label: 'Image',
          value: (b) => h('a', { href: '#/builds/' + encodeURIComponent(b.build_id), class: 'mono' },
          imageName(b) === '—' ? b.build_id.slice(0, 8) : imageName(b)) },
        { label: 'Platform', value: (b) => b.platform || '—' },
        { label: 'Status', value: statusCell },
        { label: 'Measurement', value: (b) => shortHex(b.enclave_info && b.enclave_info.mrenclave) },
        { label: 'Created', value: (b) => fmtTime(b.created_at) },
      ],
      empty: status
        ? emptyState('No images with status ' + status + '.', STATUS_HELP[status],
          h('a', { href: '#/builds' }, 'Show all images'))
        : emptyState('No images yet.', 'Create an image from an application: the manager converts ' +
          'its input image, pushes the result and records its measurement for approval.',
        canWrite ? linkButton('#/builds/new', 'Create image') : null),
    }), pages.pagerFor(list));
  };
  await load();
  return { refresh: load };
}

// ---- create ----

function appOptions(apps) {
  return [['', 'Choose an application…'], ...apps.map((a) => [a.app_id, a.name])];
}

function authBody(f, prefix) {
  const username = value(f, prefix + '.username');
  const password = f.elements.namedItem(prefix + '.password').value;
  if (!username && !password) return undefined;
  return password ? { username, password } : { username };
}

// Optional number/size overrides: only what was filled in is sent.
function overrideBody(f) {
  const out = {};
  const mem = value(f, 'mem_size');
  if (mem) {
    const bytes = parseSize(mem);
    if (Number.isNaN(bytes)) {
      const error = new Error('mem_size: not a size: write e.g. 1G or 512M');
      error.field = 'mem_size';
      error.reason = 'not a size: write e.g. 1G or 512M';
      throw error;
    }
    out.mem_size = bytes;
  }
  const threads = value(f, 'threads');
  if (threads !== null) out.threads = threads;
  return out;
}

function convertForm(ctx, apps, appId) {
  const debug = field({
    label: 'Debug enclave', name: 'debug', type: 'checkbox',
    help: 'INSECURE: a debug enclave\'s memory can be read by the host. Use only for testing.',
  });
  return form({
    fields: [
      field({
        label: 'Application', name: 'app_id', type: 'select', required: true, value: appId || '',
        options: appOptions(apps),
      }),
      field({
        label: 'Image tag', name: 'docker_version', required: true, placeholder: 'v1.0',
        help: 'The tag of the input image to convert and of the output image pushed.',
      }),
      h('fieldset', {},
        h('legend', {}, 'Output registry credentials'),
        h('p', { class: 'help' }, 'Leave empty to use the saved registry credentials for the output ' +
          'image\'s registry (see ', h('a', { href: '#/registries' }, 'Registries'), '), else anonymous.'),
        field({ label: 'Username', name: 'output_auth_config.username', autocomplete: 'off' }),
        field({
          label: 'Password', name: 'output_auth_config.password', type: 'password',
          autocomplete: 'new-password',
        })),
      h('details', {},
        h('summary', {}, 'Input image tag and credentials'),
        field({
          label: 'Input tag', name: 'input_docker_version',
          help: 'When the input image has another tag than the output (empty: the image tag).',
        }),
        field({
          label: 'Output tag', name: 'output_docker_version', help: 'Empty: the image tag.',
        }),
        field({ label: 'Input registry username', name: 'input_auth_config.username' }),
        field({
          label: 'Input registry password', name: 'input_auth_config.password', type: 'password',
          autocomplete: 'new-password',
        })),
      debug,
      field({
        label: 'Memory size override', name: 'mem_size', placeholder: '1G',
        help: 'Optional: empty keeps the app\'s.',
      }),
      field({
        label: 'Threads override', name: 'threads', type: 'number', min: 1, max: 4096,
        help: 'Optional: empty keeps the app\'s.',
      }),
    ],
    submitLabel: 'Create image',
    cancel: () => history.back(),
    onSubmit: async (f) => {
      const body = {
        app_id: value(f, 'app_id'),
        docker_version: value(f, 'docker_version'),
        ...overrideBody(f),
      };
      for (const key of ['input_docker_version', 'output_docker_version']) {
        if (value(f, key)) body[key] = value(f, key);
      }
      for (const key of ['input_auth_config', 'output_auth_config']) {
        const auth = authBody(f, key);
        if (auth) body[key] = auth;
      }
      if (value(f, 'debug')) body.debug = true;
      const build = await ctx.api.post('/builds/convert-app', body);
      toast('Conversion started.');
      ctx.navigate('#/builds/' + encodeURIComponent(build.build_id));
    },
  });
}

function registerForm(ctx, apps, appId) {
  return form({
    fields: [
      field({
        label: 'Application', name: 'app_id', type: 'select', required: true, value: appId || '',
        options: appOptions(apps),
      }),
      field({ label: 'Measurement (MRENCLAVE)', name: 'mrenclave', required: true, help: '64 hex digits.' }),
      field({ label: 'Signer (MRSIGNER)', name: 'mrsigner', required: true, help: '64 hex digits.' }),
      field({
        label: 'Platform', name: 'platform', type: 'select', value: 'sgx',
        options: [['sgx', 'SGX'], ['tdx', 'TDX'], ['snp', 'SEV-SNP'], ['sim', 'Simulation (insecure)']],
      }),
      field({
        label: 'Image name', name: 'docker_image_name',
        placeholder: 'registry.example.com/team/myapp-confidential',
      }),
      field({ label: 'Image tag', name: 'docker_version' }),
    ],
    submitLabel: 'Register build',
    onSubmit: async (f) => {
      const body = {
        app_id: value(f, 'app_id'), mrenclave: value(f, 'mrenclave'), mrsigner: value(f, 'mrsigner'),
        platform: value(f, 'platform'),
      };
      for (const key of ['docker_image_name', 'docker_version']) if (value(f, key)) body[key] = value(f, key);
      const build = await ctx.api.post('/builds', body);
      toast('Build registered; it waits for approval.');
      ctx.navigate('#/builds/' + encodeURIComponent(build.build_id));
    },
  });
}

async function renderNew(view, ctx, params, query) {
  view.append(pageHeader('Create image'));
  if (!ctx.can('WRITER')) {
    view.append(h('div', { class: 'error-box', role: 'alert' }, 'Your role in this account (' + ctx.role +
      ') cannot create images: a WRITER or MANAGER can.'));
    return;
  }
  const apps = (await ctx.api.get('/apps', { limit: 1000, sort_by: 'name:ASC' })).items;
  if (!apps.length) {
    view.append(emptyState('No applications yet.', 'An image is made from an application: add one ' +
      'first (input and output image names, enclave settings).',
    linkButton('#/apps/new', 'Add application')));
    return;
  }
  view.append(
    h('p', { class: 'help' }, 'The manager pulls the application\'s input image at this tag, converts ' +
      'it to run in an enclave, pushes it to the output image and records its measurement. The new ' +
      'image then needs approval (an image approval task).'),
    convertForm(ctx, apps, query.app_id),
    h('details', { class: 'register' },
      h('summary', {}, 'Register a build measured elsewhere'),
      h('p', { class: 'help' }, 'For an image converted outside the manager (e.g. with the cloister CLI): ' +
        'record its measurement so it can be approved.'),
      registerForm(ctx, apps, query.app_id)));
}

// ---- detail ----

function failureReason(log) {
  const lines = (log || '').trim().split('\n');
  const errorLine = [...lines].reverse().find((l) => /^error:/i.test(l.trim()));
  return errorLine || lines.slice(-3).join('\n') || 'no reason recorded';
}

function progressBlock(b) {
  const progress = (b.conversion && b.conversion.progress) || 0;
  return h('div', { class: 'panel' },
    h('label', { for: 'conversion-progress' }, 'Conversion progress: ', progress + '%'),
    h('progress', { id: 'conversion-progress', max: 100, value: progress }));
}

function summaryPairs(b) {
  const e = b.enclave_info || {};
  const d = b.docker_info || {};
  const done = Boolean(e.mrenclave);
  return [
    ['Status', [badge(b.status.status), ' ',
      h('span', { class: 'help' }, STATUS_HELP[b.status.status] || '')]],
    ['Application', h('a', { href: '#/apps/' + encodeURIComponent(b.app_id) }, b.app_name)],
    ['Image', h('span', { class: 'mono' }, imageName(b))],
    ['Image digest', d.docker_image_sha ? copyable(d.docker_image_sha, 'image digest') : '—'],
    ['Image size', d.docker_image_size ? fmtBytes(d.docker_image_size) : '—'],
    ['Platform', b.platform || '—'],
    ['Measurement (MRENCLAVE)', done ? copyable(e.mrenclave, 'measurement')
      : b.status.status === 'CONVERTING' ? 'known once converted' : '—'],
    ['Signer (MRSIGNER)', e.mrsigner ? copyable(e.mrsigner, 'signer') : '—'],
    ['ISVPRODID', e.isvprodid ?? '—'],
    ['ISVSVN', e.isvsvn ?? '—'],
    ['Debug', e.debug ? badge('INSECURE', 'bad') : 'no'],
    ['Approval', b.pending_task_id
      ? h('a', { href: '#/tasks/' + encodeURIComponent(b.pending_task_id) }, 'Pending image approval task')
      : '—'],
    ['Running instances', String((b.deployment_status && b.deployment_status.count) || 0)],
    ['Status changed', fmtTime(b.status.status_updated_at)],
    ['Created', fmtTime(b.created_at)],
    ['Build id', h('span', { class: 'mono' }, b.build_id)],
  ];
}

function deploymentsTable(items) {
  return table({
    caption: 'Where this image runs',
    items,
    columns: [
      { label: 'Instance', value: (i) => h('span', { class: 'mono' }, i.instance_id.slice(0, 8)) },
      { label: 'Node',
        value: (i) => h('a', { href: '#/nodes/' + encodeURIComponent(i.node_id) },
          i.node_name || i.node_id) },
      { label: 'Status',
        value: (i) => [badge(i.status.status), i.is_debug ? [' ', badge('debug', 'bad')] : null] },
      { label: 'Attested', value: (i) => fmtTime(i.status.attested_at) },
      { label: 'Certificate', value: (i) => i.certificate_id
        ? h('a', { href: '#/certificates/' + encodeURIComponent(i.certificate_id) }, 'Certificate') : '—' },
    ],
    empty: h('p', { class: 'help' }, 'Not running anywhere. Once approved, run the output image on an ' +
      'enrolled compute node.'),
  });
}

// Everything below the header that changes as the build progresses.
function detailBody(b, deployments) {
  const converting = b.status.status === 'CONVERTING';
  const log = (b.conversion && b.conversion.log) || '';
  return [
    b.status.status === 'FAILED'
      ? h('div', { class: 'error-box', role: 'alert' },
        h('strong', {}, 'Conversion failed: '), failureReason(log))
      : null,
    converting ? progressBlock(b) : null,
    h('section', { class: 'panel' }, details(summaryPairs(b))),
    h('h2', {}, 'Where it runs'),
    deploymentsTable(deployments),
    log || converting ? [h('h2', {}, 'Conversion log'),
      h('pre', { class: 'log', tabindex: '0', 'aria-label': 'Conversion log' },
        log || 'Waiting for the log…')] : null,
  ];
}

async function renderDetail(view, ctx, params) {
  const id = encodeURIComponent(params.id);
  const load = () => Promise.all([ctx.api.get('/builds/' + id),
    ctx.api.get('/builds/deployments/' + id).then((r) => r.items || r, () => [])]);
  let [build, deployments] = await load();
  const actionError = h('span', { class: 'form-error', role: 'alert' });
  const remove = async () => {
    replace(actionError);
    const text = 'The build record of ' + imageName(build) + ' is deleted (the pushed image stays in ' +
      'its registry); its pending approval task fails.';
    if (!await confirmAction('Delete this image?', text)) return;
    try {
      await ctx.api.del('/builds/' + id);
      toast('Image deleted.');
      ctx.navigate('#/builds');
    } catch (error) {
      replace(actionError, errorText(error));
    }
  };
  const body = h('div', {});
  const draw = () => {
    const pre = body.querySelector('pre.log');
    const atBottom = !pre || pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    replace(body, detailBody(build, deployments));
    // Follow the log as it grows unless the reader scrolled up.
    const next = body.querySelector('pre.log');
    if (next && atBottom) next.scrollTop = next.scrollHeight;
  };
  view.append(
    pageHeader('Image ' + imageName(build),
      ctx.can('WRITER') ? button('Delete', remove, 'danger') : null),
    actionError, body);
  draw();
  let last = JSON.stringify([build, deployments]);
  return {
    refresh: async () => {
      [build, deployments] = await load();
      // Redraw only on change, so focus (e.g. on a Copy button) and text selection survive.
      const now = JSON.stringify([build, deployments]);
      if (now !== last) draw();
      last = now;
    },
  };
}

export const routes = [
  { path: '/builds', title: 'Images', needsAccount: true, render: renderList },
  { path: '/builds/new', title: 'Create image', needsAccount: true, render: renderNew },
  { path: '/builds/:id', title: 'Image', needsAccount: true, render: renderDetail },
];
