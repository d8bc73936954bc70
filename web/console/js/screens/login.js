// Log-in and sign-up. The first user to sign up becomes the system administrator (SPEC 3).
import { h, field, form, value, pageHeader } from '../ui.js';

let notice = null;

// A message the next log-in screen shows once (session expired, logged out).
export function setNotice(message) {
  notice = message;
}

function takeNotice() {
  const message = notice;
  notice = null;
  return message ? h('p', { class: 'notice', role: 'status' }, message) : null;
}

async function renderLogin(view, ctx) {
  if (ctx.user) {
    ctx.navigate('#/dashboard');
    return;
  }
  view.append(h('div', { class: 'auth' },
    pageHeader('Log in'),
    takeNotice(),
    form({
      fields: [
        field({ label: 'E-mail', name: 'user_email', type: 'email', required: true, autocomplete: 'username' }),
        field({ label: 'Password', name: 'user_password', type: 'password', required: true, autocomplete: 'current-password' }),
      ],
      submitLabel: 'Log in',
      onSubmit: async (f) => {
        await ctx.api.login(value(f, 'user_email'), f.elements.namedItem('user_password').value);
        await ctx.reloadSession();
        ctx.navigate(ctx.account ? '#/dashboard' : '#/accounts');
      },
    }),
    h('p', {}, 'No user yet? ', h('a', { href: '#/signup' }, 'Sign up'))));
}

async function renderSignup(view, ctx) {
  if (ctx.user) {
    ctx.navigate('#/dashboard');
    return;
  }
  view.append(h('div', { class: 'auth' },
    pageHeader('Sign up'),
    h('p', {}, 'The first user to sign up on a manager becomes its system administrator.'),
    form({
      fields: [
        field({ label: 'E-mail', name: 'user_email', type: 'email', required: true, autocomplete: 'username' }),
        field({ label: 'First name', name: 'first_name', required: true, autocomplete: 'given-name' }),
        field({ label: 'Last name', name: 'last_name', required: true, autocomplete: 'family-name' }),
        field({
          label: 'Password', name: 'user_password', type: 'password', required: true,
          autocomplete: 'new-password', help: 'At least 8 characters.',
        }),
      ],
      submitLabel: 'Sign up',
      onSubmit: async (f) => {
        const password = f.elements.namedItem('user_password').value;
        const email = value(f, 'user_email');
        await ctx.api.signup({
          user_email: email,
          user_password: password,
          first_name: value(f, 'first_name'),
          last_name: value(f, 'last_name'),
        });
        await ctx.api.login(email, password);
        await ctx.reloadSession();
        ctx.navigate('#/accounts');
      },
    }),
    h('p', {}, 'Already signed up? ', h('a', { href: '#/login' }, 'Log in'))));
}

export const routes = [
  { path: '/login', title: 'Log in', public: true, render: renderLogin },
  { path: '/signup', title: 'Sign up', public: true, render: renderSignup },
];
