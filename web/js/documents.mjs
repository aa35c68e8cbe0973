// documents: scanned evidence for a documents field. Choose files (the scanner saves to a
// folder) or drop them on the box; each uploads at once on its own request to
// POST /api/v1/documents with a progress bar, gets a preview where the browser can draw one
// (JPEG and PNG; PDF and TIFF show their type), a type chosen from the field's values, and a
// Remove button. A file the gateway refuses keeps its reason beside it (too large, not a PDF,
// JPEG, PNG or TIFF) and is never sent with the transaction. The value is [{id, type}] of the
// files that uploaded, in the order they were chosen.
import { h, uid, announce } from './dom.mjs';
import { fieldParts, showError } from './fields.mjs';
import { getToken } from './api.mjs';

const UPLOAD_PATH = '/api/v1/documents';
const PREVIEW_MAX_BYTES = 4 * 1024 * 1024; /* larger images are not read for a thumbnail */
const FILE_LIMIT_BYTES = 10 * 1024 * 1024; /* documents.file_limit's default: a hint only */
const SUBMISSION_LIMIT_BYTES = 23 * 1024 * 1024;
const ACCEPT = '.pdf,.jpg,.jpeg,.png,.tif,.tiff,application/pdf,image/jpeg,image/png,image/tiff';

function sizeText(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/* One file on its own multipart request; progress(fraction) as it goes. Resolves to the
 * document the gateway made, rejects with the gateway's message. */
function uploadOne(file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', UPLOAD_PATH);
    xhr.setRequestHeader('Authorization', `Bearer ${getToken()}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) progress(e.loaded / e.total); });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status === 201 && data?.documents?.length === 1) resolve(data.documents[0]);
      else reject(new Error(data?.error?.message || `The gateway refused this file (HTTP ${xhr.status}).`));
    });
    xhr.addEventListener('error', () => reject(new Error('The connection dropped while uploading; remove the file and add it again.')));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

export function documentsWidget(field, ctx) {
  const parts = fieldParts(field);
  const types = (field.values || []).map((v) => (typeof v === 'string' ? { code: v, label: v } : v));
  const max = (field.constraints && field.constraints.max_documents) || 20;
  const entries = []; /* {file, state: uploading|done|refused, doc, type, el} */

  const inputId = uid('files');
  const input = h('input', { id: inputId, type: 'file', multiple: true, accept: ACCEPT, class: 'file-input', 'aria-describedby': parts.describedBy });
  const drop = h('div', { class: 'drop-zone' },
    h('label', { class: 'button button--secondary', for: inputId }, 'Choose files'),
    h('span', { class: 'drop-zone__text' }, ' or drop scans here'),
    input);
  const limits = h('p', { class: 'hint' },
    `PDF, JPEG, PNG or TIFF. At most ${sizeText(FILE_LIMIT_BYTES)} a file, ${sizeText(SUBMISSION_LIMIT_BYTES)} together, ${max} files.`);
  const list = h('ul', { class: 'doc-list', 'aria-label': field.label || 'Documents' });
  const total = h('p', { class: 'item-total', 'aria-live': 'polite' });

  function update() {
    const done = entries.filter((e) => e.state === 'done');
    const bytes = done.reduce((n, e) => n + e.doc.bytes, 0);
    total.textContent = done.length
      ? `${done.length} document${done.length === 1 ? '' : 's'}, ${sizeText(bytes)} of at most ${sizeText(SUBMISSION_LIMIT_BYTES)}.`
      : 'No documents yet.';
    total.classList.toggle('item-total--over', bytes > SUBMISSION_LIMIT_BYTES);
    ctx.changed(field.name);
  }

  function preview(file) {
    const box = h('div', { class: 'doc-preview' });
    if (/^image\/(jpeg|png)$/.test(file.type) && file.size <= PREVIEW_MAX_BYTES) {
      const reader = new FileReader(); /* a data: URL: the CSP allows those for images */
      reader.addEventListener('load', () => box.append(h('img', { src: reader.result, alt: `Preview of ${file.name}`, class: 'doc-preview__img' })));
      reader.readAsDataURL(file);
    } else {
      box.append(h('span', { class: 'doc-preview__type' }, (file.name.split('.').pop() || 'file').toUpperCase()));
    }
    return box;
  }

  function add(file) {
    if (entries.length >= max) {
      showError(el, parts, [input], `At most ${max} documents can be sent together.`);
      return;
    }
    const entry = { file, state: 'uploading', doc: null, type: '' };
    const bar = h('progress', { class: 'doc-progress', max: 100, value: 0, 'aria-label': `Upload of ${file.name}` });
    const status = h('span', { class: 'doc-status' }, 'Uploading…');
    const typeId = uid('doc-type');
    const type = h('select', { id: typeId, class: 'select' },
      h('option', { value: '' }, 'Choose the type…'),
      types.map((t) => h('option', { value: t.code }, t.label)));
    type.addEventListener('change', () => { entry.type = type.value; ctx.changed(field.name); });
    const remove = h('button', { type: 'button', class: 'button button--link', 'aria-label': `Remove ${file.name}` }, 'Remove');
    remove.addEventListener('click', () => {
      entries.splice(entries.indexOf(entry), 1);
      entry.el.remove();
      update();
      announce(`${file.name} removed`);
      input.focus();
    });
    entry.el = h('li', { class: 'doc-line', 'data-name': file.name },
      preview(file),
      h('div', { class: 'doc-line__body' },
        h('span', { class: 'doc-line__name' }, file.name), ' ', h('span', { class: 'doc-line__size' }, sizeText(file.size)),
        h('div', {}, bar, ' ', status),
        h('label', { class: 'label label--small', for: typeId }, 'Type'), type),
      remove);
    entries.push(entry);
    list.append(entry.el);
    update();
    uploadOne(file, (f) => { bar.value = Math.round(f * 100); }).then((doc) => {
      entry.state = 'done';
      entry.doc = doc;
      bar.value = 100;
      const pages = doc.pages ? `, ${doc.pages} page${doc.pages === 1 ? '' : 's'}` : '';
      status.textContent = `Uploaded (${doc.type.toUpperCase()}${pages})`;
      entry.el.classList.add('doc-line--done');
      announce(`${file.name} uploaded`);
      update();
    }, (err) => {
      entry.state = 'refused';
      status.textContent = err.message;
      status.classList.add('doc-status--refused');
      entry.el.classList.add('doc-line--refused');
      type.disabled = true;
      announce(`${file.name} was refused: ${err.message}`);
      update();
    });
  }

  function addAll(files) {
    showError(el, parts, [input], null);
    for (const f of files) add(f);
    input.value = '';
  }

  input.addEventListener('change', () => addAll([...input.files]));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('drop-zone--over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('drop-zone--over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('drop-zone--over');
    addAll([...(e.dataTransfer?.files || [])]);
  });

  const el = h('fieldset', { class: 'field fieldset', 'data-field': field.name },
    h('legend', { class: 'legend' }, parts.labelText), parts.hint, limits, parts.error, drop, list, total);
  update();

  return {
    field, el, parts,
    get() {
      const done = entries.filter((e) => e.state === 'done');
      return done.length ? done.map((e) => ({ id: e.doc.id, type: e.type })) : undefined;
    },
    set() { /* uploads cannot be restored from a value */ },
    setError(m) { showError(el, parts, [input], m); },
    focus() { input.focus(); },
    controls: [input],
  };
}
