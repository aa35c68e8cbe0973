// services: the list of counter services with a search box. Type to filter, Enter opens
// the first match, the arrow keys move through the list.
import { h, focus, append } from '../dom.mjs';
import * as sender from '../sale-sender.mjs';

function matches(s, q) {
  if (!q) return true;
  const hay = `${s.name} ${s.description || ''} ${s.code} ${s.reference_prefix || ''}`.toLowerCase();
  return q.toLowerCase().split(/\s+/).filter(Boolean).every((w) => hay.includes(w));
}

export async function servicesView(main, params, app) {
  const services = await app.catalogue();
  const heading = h('h1', { class: 'heading' }, 'Start a sale');
  const search = h('input', { id: 'service-search', type: 'search', class: 'input input--search', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'service-count', 'aria-controls': 'service-list' });
  const count = h('p', { class: 'hint', id: 'service-count', 'aria-live': 'polite' });
  const list = h('ul', { class: 'service-list', id: 'service-list' });
  const pending = sender.pending();

  append(main, [heading,
    pending ? h('div', { class: 'notice notice--warning', role: 'status' }, 'A sale was not confirmed before the page closed. ', h('a', { href: '#/resume' }, 'Finish recording it')) : null,
    h('div', { class: 'field' }, h('label', { class: 'label', for: 'service-search' }, 'Find a service'), search, count),
    list]);

  function links() { return [...list.querySelectorAll('a.service')]; }

  function render() {
    list.textContent = '';
    const q = search.value.trim();
    const shown = services.filter((s) => matches(s, q));
    for (const s of shown) {
      const link = h('a', { class: 'service', href: `#/sale/${encodeURIComponent(s.code)}`, 'data-code': s.code },
        h('span', { class: 'service__name' }, s.name),
        h('span', { class: 'service__desc' }, s.description || ''),
        s.fee_rules?.length ? h('span', { class: 'service__fee' }, s.fee_rules[0]) : null);
      list.append(h('li', {}, link));
    }
    count.textContent = q ? `${shown.length} of ${services.length} services match.` : `${services.length} services. Type to search; Enter opens the first.`;
    if (!shown.length) list.append(h('li', { class: 'empty' }, 'No service matches. Try another word.'));
  }

  search.addEventListener('input', render);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      const first = links()[0];
      if (first) location.hash = first.getAttribute('href');
    } else if (e.key === 'ArrowDown') {
      e.preventDefault();
      links()[0]?.focus();
    }
  });
  list.addEventListener('keydown', (e) => {
    const all = links();
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    if (e.key === 'ArrowDown') { e.preventDefault(); all[Math.min(i + 1, all.length - 1)].focus(); }
    if (e.key === 'ArrowUp') { e.preventDefault(); (i === 0 ? search : all[i - 1]).focus(); }
  });

  render();
  focus(heading);
  search.focus();
  return null;
}
