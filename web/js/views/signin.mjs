// signin: username, password and the counter id (on the label on the till). The counter
// id is remembered on this PC (it is not a secret); the password never is.
import { h, focus, uid } from '../dom.mjs';
import * as api from '../api.mjs';
import * as session from '../session.mjs';

const COUNTER_KEY = 'onestop.counter';

function input(label, attrs, hintText) {
  const id = uid('signin');
  const errorText = h('span');
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true }, h('span', { class: 'visually-hidden' }, 'Error: '), errorText);
  const hint = hintText ? h('p', { class: 'hint', id: `${id}-hint` }, hintText) : null;
  const control = h('input', { id, class: 'input', ...attrs, 'aria-describedby': [hint && `${id}-hint`, `${id}-error`].filter(Boolean).join(' ') });
  const el = h('div', { class: 'field' }, h('label', { class: 'label', for: id }, label), hint, error, control);
  return {
    el, control,
    setError(m) {
      errorText.textContent = m || '';
      error.hidden = !m;
      el.classList.toggle('field--error', Boolean(m));
      if (m) control.setAttribute('aria-invalid', 'true'); else control.removeAttribute('aria-invalid');
    },
  };
}

export function signinView(main, params, app) {
  const fromUrl = new URLSearchParams(location.search).get('counter');
  const username = input('Username', { name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const password = input('Password', { name: 'password', type: 'password', autocomplete: 'current-password' });
  const counter = input('Counter', { name: 'counter', autocomplete: 'off', class: 'input input--vrm input--upper', value: fromUrl || localStorage.getItem(COUNTER_KEY) || '' }, 'The counter id on the label on the till, for example SD-01.');
  const problem = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1', hidden: true });
  const button = h('button', { type: 'submit', class: 'button button--primary' }, 'Sign in');
  const heading = h('h1', { class: 'heading' }, 'Sign in to the counter');
  const message = app.signedOutBecause ? h('div', { class: 'notice', role: 'status' }, app.signedOutBecause) : null;
  app.signedOutBecause = null;

  const form = h('form', { class: 'signin', novalidate: true }, problem, username.el, password.el, counter.el, button);
  main.append(h('div', { class: 'narrow' }, heading, message, form));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fields = { username, password, counter };
    for (const f of Object.values(fields)) f.setError(null);
    problem.hidden = true;
    const values = {
      username: username.control.value.trim(),
      password: password.control.value,
      counter: counter.control.value.trim().toUpperCase(),
    };
    let first = null;
    for (const [k, label] of [['username', 'Enter your username'], ['password', 'Enter your password'], ['counter', 'Enter the counter id']]) {
      if (!values[k]) { fields[k].setError(label); first = first || fields[k].control; }
    }
    if (first) { first.focus(); return; }
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      await session.signIn(values.username, values.password, values.counter);
      localStorage.setItem(COUNTER_KEY, values.counter);
      app.signedIn();
    } catch (err) {
      button.disabled = false;
      button.textContent = 'Sign in';
      password.control.value = '';
      if (err instanceof api.ApiError && err.status === 422 && err.fields.length) {
        for (const f of err.fields) fields[f.field]?.setError(f.message);
        (fields[err.fields[0].field]?.control || password.control).focus();
        return;
      }
      problem.textContent = '';
      problem.append(h('h2', { class: 'error-summary__title' }, 'You are not signed in'), h('p', {}, err.message));
      problem.hidden = false;
      problem.focus();
      if (err instanceof api.ApiError && err.status === 401) password.control.focus();
    }
  });

  focus(heading);
  username.control.focus();
  return null;
}
