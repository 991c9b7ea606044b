// The page: views over the shell's commands (all through api.js). Everything on screen is in
// the admin's words: errors show their message (never their kind), times are in the
// schedule's time zone, named.
import { api } from './api.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const fmtBytes = (n) => { const u = ['B', 'KiB', 'MiB', 'GiB']; let i = 0; let v = n; while (v >= 1024 && i < 3) { v /= 1024; i++; } return i ? `${v.toFixed(1)} ${u[i]}` : `${n} B`; };
const text = (el, s) => { el.textContent = s; };

/** The schedule's time zone (from the last status); every time on screen is shown in it. */
let zone = 'UTC';
function fmtTime(t, seconds = false) {
  if (!t) return '—';
  const opts = { timeZone: zone, year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  if (seconds) opts.second = '2-digit';
  try { return `${new Intl.DateTimeFormat('en-GB', opts).format(new Date(t))} ${zone}`; } catch { return `${new Date(t).toISOString().replace('T', ' ').slice(0, seconds ? 19 : 16)} UTC`; }
}

let current = 'dashboard';
let lastStatus = null;
let setupShown = false;

/** @param {string} view @param {string} [restoreId] the restore point Restore opens on */
function show(view, restoreId) {
  current = view;
  document.querySelectorAll('.view').forEach((v) => { v.hidden = v.id !== `view-${view}`; });
  document.querySelectorAll('.tab').forEach((t) => t.classList.toggle('active', t.dataset.view === view));
  placeSharedCards(view);
  if (view === 'history') loadHistory();
  if (view === 'restore') loadRestore(restoreId);
  if (view === 'settings') loadSettings();
  if (view === 'setup') loadSetup();
  if (view === 'log') loadLog();
}

/** The installation and key cards are one each: the setup steps borrow them from Settings. */
function placeSharedCards(view) {
  const inSetup = view === 'setup';
  const site = $('site-card'); const key = $('key-card');
  if (inSetup) { $('setup-site-slot').appendChild(site); $('setup-key-slot').appendChild(key); } else {
    const settings = $('view-settings');
    settings.insertBefore(site, settings.firstChild);
    settings.appendChild(key);
  }
  // Backups kept off-site show where they are looked for: under History, and under Restore
  // (a new computer's admin goes straight there).
  (view === 'restore' ? $('view-restore') : $('view-history')).appendChild($('remote-card'));
}

function banner(msg, bad) {
  const b = $('banner');
  b.hidden = !msg;
  b.className = bad ? 'banner bad' : 'banner';
  text(b, msg || '');
}

async function refresh() {
  let s;
  try { s = await api.status(); } catch (e) { banner(e.message, true); return; }
  render(s);
}

const runWords = { ok: 'done', failed: 'failed', cancelled: 'cancelled', running: 'running', unindexed: 'not checked yet' };

/** Shows a status: asked for by `refresh`, or sent by the shell when it changes. */
function render(s) {
  lastStatus = s;
  zone = s.timezone || 'UTC';
  const st = $('state');
  st.className = `state ${s.state}`;
  text(st, s.label || s.state);
  if (s.state === 'overdue') { const b = document.createElement('span'); b.className = 'badge'; b.textContent = 'overdue'; st.appendChild(b); }
  text($('state-message'), s.message || '');
  $('state-setup').hidden = s.state !== 'setup';
  $('demo-bar').hidden = !s.demo;
  if (s.state === 'setup') setupShown = true;
  $$tab('setup').hidden = !setupShown;
  text($('last'), s.last ? `${fmtTime(s.last.started)} · ${runWords[s.last.status] || s.last.status}${s.last.archive ? ` · ${fmtBytes(s.last.size)} in ${(s.last.duration_ms / 1000).toFixed(1)} s` : ''}` : 'none yet');
  text($('next'), s.state === 'setup' ? 'after set-up' : (s.next_run ? fmtTime(s.next_run) : (s.backups_enabled ? '—' : 'paused')));
  text($('schedule'), s.state === 'setup' ? '' : `daily at ${s.schedule}`);
  if (s.key_error) banner(`No encryption key: ${s.key_error}`, true);
  else if (!s.key_exported && s.state !== 'setup') banner('Your recovery key has not been saved yet: Settings → Encryption key. Without it, losing this computer loses the backups.', false);
  else banner('', false);
  renderOffsite(s.offsite || []);
  const busy = s.state === 'running';
  $('backup-now').disabled = busy || !!s.key_error || s.state === 'setup';
  $('w-backup').disabled = busy || !!s.key_error || s.state === 'setup';
}

const offsiteWords = { ok: 'all copies checked', copying: 'copying…', failed: 'FAILED', waiting: 'waiting', problem: 'PROBLEM', never: 'nothing copied yet', pending: 'copies to make' };
/** The off-site lines of the dashboard, the settings list and the history's choices. */
function renderOffsite(list) {
  $('offsite-card').hidden = list.length === 0;
  $('remote-card').hidden = list.length === 0;
  $('offsite-lines').replaceChildren(...list.map((o) => {
    const li = document.createElement('li');
    const when = o.lastRunLocal ? `, last run ${o.lastRunLocal}` : '';
    li.textContent = `${o.name} (${o.place}): ${o.enabled ? offsiteWords[o.state] || o.state : 'switched off'} · ${o.copies} cop${o.copies === 1 ? 'y' : 'ies'}${when}${o.message ? ` · ${o.message}` : ''}`;
    li.className = ['failed', 'problem'].includes(o.state) ? 'bad' : (o.state === 'ok' ? 'ok' : '');
    return li;
  }));
  $('offsite-list').replaceChildren(...list.map((o) => {
    const li = document.createElement('li');
    li.append(`${o.name}: ${o.place}${o.enabled ? '' : ' (switched off)'} · `);
    const note = document.createElement('span'); note.className = 'muted';
    note.textContent = o.kind === 'folder'
      ? 'not protected against deletion from this computer (unplug the disk between copies, or use cloud storage with a retention lock)'
      : 'protected against deletion from this computer only if the bucket has a retention lock (Object Lock, immutable storage) set at your provider';
    li.append(note, ' ');
    if (o.fromEnv) {
      li.append('(set up by HR-SM\'s own settings on this computer)');
    } else {
      const edit = document.createElement('button'); edit.type = 'button'; edit.textContent = 'Change'; edit.onclick = () => offsiteEdit(o.name);
      const del = document.createElement('button'); del.type = 'button'; del.textContent = 'Remove'; del.onclick = () => offsiteRemove(o.name);
      li.append(edit, ' ', del);
    }
    return li;
  }));
  const pick = /** @type {HTMLSelectElement} */ ($('remote-pick'));
  const was = pick.value;
  pick.replaceChildren(...list.map((o) => { const opt = document.createElement('option'); opt.value = o.name; opt.textContent = `${o.name} (${o.place})`; return opt; }));
  if (list.some((o) => o.name === was)) pick.value = was;
}

function $$tab(view) { return /** @type {HTMLElement} */ (document.querySelector(`.tab[data-view=${view}]`)); }

async function backupNow() {
  $('backup-now').disabled = true;
  $('cancel').hidden = false;
  $('progress-wrap').hidden = false;
  text($('result'), '');
  $('backup-warnings').replaceChildren();
  text($('phase'), 'Starting…');
  text($('phase-detail'), '');
  $('bar-fill').style.width = '0%';
  try {
    const entry = await api.backupNow((e) => {
      if (e.event === 'phase') { text($('phase'), e.data.name); text($('phase-detail'), ''); }
      if (e.event === 'detail') text($('phase-detail'), e.data.text);
      if (e.event === 'progress' && e.data.total) $('bar-fill').style.width = `${Math.min(100, (100 * e.data.done) / e.data.total).toFixed(1)}%`;
      if (e.event === 'warning') { const w = para(`Warning: ${e.data.message}`, 'muted'); $('backup-warnings').appendChild(w); }
    });
    $('bar-fill').style.width = '100%';
    text($('phase'), '');
    text($('phase-detail'), '');
    text($('result'), `Backup done: ${entry.files} files, ${entry.documents} documents, ${fmtBytes(entry.size)}${entry.verified ? ', checked' : ''}.`);
    $('result').className = 'ok';
  } catch (e) {
    $('result').className = e.kind === 'cancelled' ? 'muted' : 'bad';
    text($('result'), e.kind === 'cancelled' ? e.message : `Backup failed: ${e.message}`);
    if (e.kind === 'cancelled') $('progress-wrap').hidden = true;
  } finally {
    $('cancel').hidden = true;
    text($('phase-detail'), '');
    refresh();
  }
}

/** The recovery sheet: the key in groups a person can type back, its fingerprint, where the
 * backups are and how to restore on a new computer. Printed through the shell (the system's
 * print dialog), then emptied: the key does not stay in the page. */
let sheetTimer = 0;
async function printRecoverySheet() {
  // A sheet printed again before the last one was emptied must not lose its key midway.
  clearTimeout(sheetTimer);
  const key = /** @type {HTMLTextAreaElement} */ ($('key-text')).value.trim();
  if (!key) return;
  const groups = key.replace(/^hrsm-key-v1:/, '').match(/.{1,8}/g) || [];
  const el = (tag, t) => { const e = document.createElement(tag); e.textContent = t; return e; };
  const steps = document.createElement('ol');
  [
    'Install HR-SM Backup on the new computer.',
    'Open Settings, Encryption key, "Import a key", type the key above (spaces and line breaks do not matter) and click Import.',
    'Check that the key fingerprint shown there is the one on this sheet.',
    'Choose the backup folder in Settings, or add the off-site copy and open Restore, "Backups stored off-site".',
    'Choose the restore point by its date and restore.',
  ].forEach((t) => steps.appendChild(el('li', t)));
  const where = [`Backups are kept in: ${lastStatus?.destination || '(not set)'}`]
    .concat((lastStatus?.offsite || []).map((o) => `Off-site copy "${o.name}": ${o.place}`));
  $('recovery-sheet').replaceChildren(
    el('h1', 'HR-SM Backup: recovery sheet'),
    el('p', `Printed ${fmtTime(new Date().toISOString())}. Keep this sheet locked away, not with the computer it protects.`),
    el('h2', 'Recovery key'),
    el('pre', `hrsm-key-v1:\n${groups.slice(0, 4).join(' ')}\n${groups.slice(4).join(' ')}`),
    el('p', `Key fingerprint: ${lastStatus?.key_id || ''} (it names the key without revealing it)`),
    ...where.map((w) => el('p', w)),
    el('h2', 'To restore on a new computer'),
    steps,
    el('p', 'Anyone holding this key and a backup can read every record in it. Without it, no backup can be opened.'),
  );
  try {
    await api.printSheet();
  } catch (e) {
    text($('key-result'), e.message);
  }
  // The dialog has closed, printed or cancelled (on Windows the web view's print holds the page
  // until it closes). The printer is sent the pages a moment later: the sheet (never shown on
  // screen) goes once they are surely drawn.
  sheetTimer = setTimeout(() => $('recovery-sheet').replaceChildren(), 5000);
}
window.addEventListener('afterprint', () => $('recovery-sheet').replaceChildren());
// Where a web view sends no afterprint, leaving print media empties it too.
window.matchMedia('print').addEventListener('change', (e) => { if (!e.matches) $('recovery-sheet').replaceChildren(); });

/** What Verify said, per backup: kept across the table's redraws. */
const verifyResults = new Map();

async function loadHistory() {
  text($('history-zone'), `Times in ${zone}.`);
  const rows = (await api.history()).slice().reverse();
  const body = $('history-rows');
  body.replaceChildren(...rows.map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.id = e.id;
    if (e.status === 'failed') tr.className = 'failed';
    const note = e.trigger === 'before-restore' ? 'safety copy made before a restore' : (e.origin ? 'imported from the old backup service' : '');
    const copies = (lastStatus?.offsite || []).filter((o) => o.copiedIds.includes(e.id)).map((o) => o.name).join(', ');
    const cells = [fmtTime(e.started), e.status, e.archive ? fmtBytes(e.size) : '—', `${(e.duration_ms / 1000).toFixed(1)} s`, e.files, e.documents, e.verified ? 'yes' : 'no', copies || '—', note];
    cells.forEach((c, i) => {
      const td = document.createElement('td'); td.textContent = String(c);
      if (i === 1) { td.className = { ok: 'ok', cancelled: 'cancelled' }[e.status] || 'bad'; if (e.error) td.title = e.error; }
      tr.appendChild(td);
    });
    const td = document.createElement('td');
    if (e.archive) {
      const b = document.createElement('button'); b.textContent = verifyResults.has(e.id) ? 'Verify again' : 'Verify'; b.onclick = () => verifyOne(e.id, b); td.appendChild(b);
      const r = verifyResults.get(e.id);
      if (r) { const span = document.createElement('span'); span.className = `verify-result ${r.ok ? 'ok' : 'bad'}`; span.textContent = ` ${r.text}`; td.appendChild(span); }
    }
    tr.appendChild(td);
    return tr;
  }));
  drawChart(rows.slice().reverse());
}

function drawChart(entries) {
  const svg = $('chart');
  const ns = 'http://www.w3.org/2000/svg';
  svg.replaceChildren();
  const ok = entries.filter((e) => e.archive).slice(-60);
  const max = Math.max(1, ...ok.map((e) => e.size));
  const w = Math.min(40, 1100 / Math.max(ok.length, 1));
  ok.forEach((e, i) => {
    const h = Math.max(2, (130 * e.size) / max);
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', String(i * w + 2)); r.setAttribute('y', String(140 - h)); r.setAttribute('width', String(Math.max(2, w - 4))); r.setAttribute('height', String(h));
    const t = document.createElementNS(ns, 'title'); t.textContent = `${fmtTime(e.started)}: ${fmtBytes(e.size)}`; r.appendChild(t);
    svg.appendChild(r);
  });
  const label = document.createElementNS(ns, 'text'); label.setAttribute('x', '4'); label.setAttribute('y', '155'); label.textContent = ok.length ? `max ${fmtBytes(max)}, ${ok.length} backups` : 'no backups yet'; svg.appendChild(label);
}

async function verifyOne(id, button) {
  button.disabled = true; button.textContent = 'Verifying…';
  try {
    const r = await api.verify(id, false, () => {});
    verifyResults.set(id, { ok: true, text: `Intact: all ${r.files} files and every part check out (${fmtTime(new Date().toISOString())}).` });
  } catch (e) {
    verifyResults.set(id, { ok: false, text: `Damaged or unreadable: ${e.message}` });
  }
  loadHistory();
}

/** @param {string} [selectId] the restore point to show (one just downloaded) */
async function loadRestore(selectId) {
  disarmRestore();
  // What another restore point held must not be read as this one's.
  $('restore-contents').replaceChildren(para('Reading…', 'muted'));
  $('restore-result').textContent = '';
  const pick = $('restore-pick');
  const rows = (await api.history()).filter((e) => e.status === 'ok').reverse();
  pick.replaceChildren(...rows.map((e) => { const o = document.createElement('option'); o.value = e.id; o.textContent = `${fmtTime(e.started)} — ${fmtBytes(e.size)}`; return o; }));
  if (selectId && rows.some((e) => e.id === selectId)) /** @type {HTMLSelectElement} */ (pick).value = selectId;
  if (rows.length) showContents();
  else $('restore-contents').replaceChildren(para(lastStatus?.offsite?.length ? 'No backup on this computer yet. Backups kept off-site are listed below: download one to restore from it.' : 'No backup on this computer yet.', 'muted'));
}

async function showContents() {
  disarmRestore();
  const id = $('restore-pick').value;
  const box = $('restore-contents');
  box.replaceChildren(para('Reading…', 'muted'));
  let m;
  try { m = await api.details(id); } catch (e) { text(box, e.message); return; }
  const lines = [];
  (m.mongo?.databases || []).forEach((d) => lines.push(`database ${d.name}: ${d.collections.map((c) => `${c.name} (${c.documents})`).join(', ')}`));
  m.sources.forEach((s) => lines.push(`files ${s.name}: ${s.files} files, ${fmtBytes(s.bytes)} from ${s.path}`));
  box.replaceChildren(...lines.map((l) => para(l)));
  shownDatabases = (m.mongo?.databases || []).map((d) => d.name);
  // Collections with expiry rules (TTL indexes): the database deletes restored documents past
  // them within a minute, unless the rules are paused. Not paused by default: a paused rule
  // stays off (and every later backup says so) until it is turned back on.
  const expiring = (m.mongo?.databases || []).flatMap((d) => d.collections.filter((c) => c.ttl?.length).map((c) => `${d.name}.${c.name}`));
  $('r-ttl').hidden = expiring.length === 0;
  /** @type {HTMLInputElement} */ ($('r-pause-ttl')).checked = false;
  text($('r-ttl-text'), `${expiring.join(', ')} ${expiring.length === 1 ? 'has' : 'have'} an expiry rule: the database deletes documents older than it allows within a minute of the restore. Documents from an older backup can be past it.`);
  $('r-files-where').replaceChildren(...m.sources.map((s) => { const li = document.createElement('li'); li.textContent = `${s.name} → ${s.path}`; return li; }));
  renderRestoreDatabases();
}

/** The databases of the shown backup, as the chosen mode places them. */
let shownDatabases = [];
function restoreMode() { return $('r-mode-side').checked ? 'side' : 'back'; }
function renderRestoreDatabases() {
  const back = restoreMode() === 'back';
  $('r-files-back').hidden = !back;
  $('r-files-side').hidden = back;
  text($('r-mode-help'), back
    ? 'What is in these databases now is replaced by the backup. A safety copy of it is made first and listed in the history, so this can be undone.'
    : 'Each database is restored under a new name; compare or copy from it at leisure.');
  $('r-dbs').replaceChildren(...shownDatabases.map((name) => {
    const l = document.createElement('label');
    const cb = document.createElement('input'); cb.type = 'checkbox'; cb.dataset.db = name; cb.checked = true;
    const to = document.createElement('input'); to.value = back ? name : `${name}_restored`; to.dataset.to = name; to.size = 24; to.readOnly = back;
    l.append(cb, ` database ${name} ${back ? 'back into' : 'into'} `, to);
    return l;
  }));
}

function restoreRequest() {
  const id = $('restore-pick').value;
  const databases = [...document.querySelectorAll('#r-dbs input[type=checkbox]')].filter((c) => c.checked).map((c) => [c.dataset.db, document.querySelector(`#r-dbs input[data-to="${c.dataset.db}"]`).value]);
  const back = restoreMode() === 'back';
  // "As it was": files to their own folders, replacing what is there (a safety copy is made first).
  return {
    id, filesTo: !back && $('r-files').checked ? $('r-files-to').value : null, filesInPlace: back && $('r-files-inplace').checked,
    overwrite: back || $('r-overwrite').checked, databases, collections: [],
    pauseTtl: !$('r-ttl').hidden && /** @type {HTMLInputElement} */ ($('r-pause-ttl')).checked,
  };
}

/** The one restore the last check allows: cleared by any change, by a new check and by use. */
let armed = null;
function disarmRestore() {
  armed = null;
  $('confirm-box').hidden = true;
  $('confirm-word').value = '';
  $('restore-go').disabled = true;
}

async function preflight() {
  const out = $('preflight-out');
  disarmRestore();
  text($('restore-result'), '');
  const request = restoreRequest();
  out.replaceChildren(para('Checking…', 'muted'));
  try {
    const p = await api.preflight(request);
    const lines = [];
    const replaced = p.collections.filter((c) => c.replaces).map((c) => `${c.to}.${c.name}`);
    if (p.files?.replaced.length) replaced.push(`${p.files.replaced.length} existing files`);
    if (replaced.length) lines.push(para(`This replaces what is there now: ${replaced.join(', ')}.`, 'replaces'));
    if (p.files) lines.push(para(`Files: ${p.files.files} files (${fmtBytes(p.files.bytes)}) of ${p.files.sources.join(', ')}${p.files.replaced.length ? `, replacing ${p.files.replaced.length}` : ''}.`));
    p.collections.forEach((c) => lines.push(para(`${c.from}.${c.name} → ${c.to}.${c.name}: ${c.kind === 'timeseries' ? `${c.documents} group${c.documents === 1 ? '' : 's'} of measurements` : `${c.documents} document${c.documents === 1 ? '' : 's'}`}${c.replaces ? ' (replaces the existing collection)' : ''}`, c.replaces ? 'replaces' : '')));
    p.collections.filter((c) => c.expiry?.length).forEach((c) => lines.push(request.pauseTtl
      ? para(`${c.to}.${c.name}: its expiry rule (documents ${c.expiry.join('; ')}) is paused after the restore; nothing there expires until you turn it back on.`)
      : para(`${c.to}.${c.name}: documents ${c.expiry.join('; ')}; those past it are deleted by the database within a minute of the restore.`, 'replaces')));
    lines.push(para('Nothing is replaced until the whole backup has been checked.', 'muted'));
    out.replaceChildren(...lines);
    armed = { token: p.confirmToken, request };
    $('confirm-box').hidden = false;
    $('confirm-word').focus();
  } catch (e) { out.replaceChildren(para(e.message, 'warn')); }
}

async function restoreGo() {
  if (!armed) return;
  const { token, request } = armed;
  const word = $('confirm-word').value;
  disarmRestore();
  $('preflight').disabled = true;
  const result = $('restore-result');
  text(result, 'Restoring…');
  try {
    const r = await api.restore(request, word, token, (e) => { if (e.event === 'phase') text(result, `Restoring: ${e.data.name}…`); });
    const parts = [];
    if (r.files) parts.push(request.filesInPlace ? `${r.files.plan.files} files back into their folders` : `${r.files.plan.files} files into ${r.files.target}`);
    (r.mongo?.collections || []).forEach((c) => parts.push(`${c.db}.${c.name}: ${c.documents} ${c.buckets ? 'groups of measurements' : 'documents'}`));
    const undo = r.safety ? ` A safety copy of what was there before was made first (${fmtTime(r.safety.started)}); restore it to undo this.` : '';
    text(result, `Restored ${parts.join('; ')}.${undo}`);
    const paused = r.mongo?.ttl_paused || [];
    if (paused.length) {
      const note = para(`Expiry paused on ${paused.join(', ')}: nothing there expires until you turn it back on. `, 'warn');
      const b = document.createElement('button'); b.type = 'button'; b.id = 'resume-expiry'; b.textContent = 'Turn expiry back on';
      b.onclick = async () => {
        b.disabled = true;
        try { const done = await api.resumeExpiry(request.id, request.databases); note.replaceChildren(`Expiry is on again: ${done.join(', ') || 'nothing was still paused'}.`); note.className = 'ok'; }
        catch (e) { b.disabled = false; note.append(` ${e.message}`); }
      };
      note.appendChild(b);
      result.appendChild(note);
    }
    // What the clean-up of an earlier restore that was stopped found.
    (r.mongo?.warnings || []).forEach((w) => result.appendChild(para(w.charAt(0).toUpperCase() + w.slice(1) + '.', 'warn')));
  } catch (e) { text(result, `Restore failed: ${e.message}`); } finally {
    $('preflight').disabled = false;
    $('preflight-out').replaceChildren();
  }
}

let zones = null;
async function fillZones(select, value) {
  if (!zones) { try { zones = await api.timeZones(); } catch { zones = ['UTC']; } }
  const list = zones.includes(value) || !value ? zones : [value, ...zones];
  select.replaceChildren(...list.map((z) => { const o = document.createElement('option'); o.value = z; o.textContent = z.replace(/_/g, ' '); return o; }));
  select.value = value || 'UTC';
}

/** Shows the shell's (or the form's own) complaint next to the field it is about. */
function fieldError(root, field, message) {
  const el = /** @type {HTMLElement|null} */ (root.querySelector(`[data-field="${field}"]`));
  if (!el) return false;
  el.classList.add('invalid');
  const span = document.createElement('span'); span.className = 'field-error'; span.textContent = message;
  el.insertAdjacentElement('afterend', span);
  el.focus();
  return true;
}
function clearFieldErrors(root) {
  root.querySelectorAll('.field-error').forEach((e) => e.remove());
  root.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
}

async function loadSettings() {
  const s = await api.getSettings();
  clearFieldErrors($('settings-form'));
  text($('settings-result'), '');
  $('s-mongo-enabled').checked = s.mongodbEnabled; $('s-uri').value = s.mongodbUri; $('s-dbs').value = s.databases.join(', ');
  $('s-dest').value = s.destination; $('s-sched-enabled').checked = s.scheduleEnabled; $('s-time').value = s.scheduleTime;
  await fillZones($('s-tz'), s.scheduleTimezone);
  $('s-keep-days').value = s.keepDays; $('s-keep-min').value = s.keepMinVerified; $('s-notify-success').checked = s.notifySuccess;
  renderSources(s.sources);
  // The configured folder, unless the admin has started typing one (settings load after the
  // view opens).
  if (!$('site-root').dataset.touched) $('site-root').value = s.hrsmRoot || '';
  try { $('s-autostart').checked = !!(await api.autostart()); } catch { $('s-autostart').disabled = true; }
  const st = await api.status();
  text($('key-id'), st.key_id || st.key_error || '—');
}

const globs = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

function renderSources(sources) {
  $('s-sources').replaceChildren(...sources.map((s, i) => {
    const l = document.createElement('div');
    l.className = 'src-row';
    const n = document.createElement('input'); n.value = s.name; n.size = 14; n.className = 'src-name'; n.dataset.field = `sources.${i}.name`; n.setAttribute('aria-label', 'Name');
    const p = document.createElement('input'); p.value = s.path; p.size = 56; p.className = 'src-path'; p.dataset.field = `sources.${i}.path`; p.setAttribute('aria-label', 'Folder');
    const rm = document.createElement('button'); rm.type = 'button'; rm.textContent = 'Remove'; rm.onclick = () => l.remove();
    const rules = document.createElement('span'); rules.className = 'src-rules';
    const inc = document.createElement('input'); inc.value = (s.include || []).join(', '); inc.size = 40; inc.className = 'src-include'; inc.dataset.field = `sources.${i}.include`; inc.placeholder = 'everything';
    const exc = document.createElement('input'); exc.value = (s.exclude || []).join(', '); exc.size = 30; exc.className = 'src-exclude'; exc.dataset.field = `sources.${i}.exclude`; exc.placeholder = 'nothing';
    rules.append('Only: ', inc, '  Leave out: ', exc);
    l.append(n, ' ', p, ' ', rm, rules);
    return l;
  }));
}

function formSources() {
  return [...document.querySelectorAll('#s-sources .src-row')].map((l) => ({
    name: l.querySelector('.src-name').value, path: l.querySelector('.src-path').value,
    include: globs(l.querySelector('.src-include').value), exclude: globs(l.querySelector('.src-exclude').value),
  }));
}

/** The form's own checks (the shell checks again): a number that is not one is said, not sent. */
function checkNumbers(root, fields) {
  for (const [id, field, min, max, words] of fields) {
    const v = Number($(id).value);
    if (!$(id).value.trim() || !Number.isInteger(v) || v < min || v > max) { fieldError(root, field, words); return false; }
  }
  return true;
}

async function saveSettings(ev) {
  ev.preventDefault();
  const form = $('settings-form');
  clearFieldErrors(form);
  text($('settings-result'), '');
  if (!checkNumbers(form, [['s-keep-days', 'keepDays', 1, 3650, 'Keep backups for 1 to 3650 days.'], ['s-keep-min', 'keepMinVerified', 1, 1000, 'Give a number from 1 to 1000.']])) return;
  if (!$('s-time').value) { fieldError(form, 'scheduleTime', 'Give the time of the daily backup.'); return; }
  const settings = {
    mongodbEnabled: $('s-mongo-enabled').checked, mongodbUri: $('s-uri').value, databases: $('s-dbs').value.split(',').map((x) => x.trim()).filter(Boolean),
    sources: formSources(), destination: $('s-dest').value, scheduleEnabled: $('s-sched-enabled').checked, scheduleTime: $('s-time').value, scheduleTimezone: $('s-tz').value,
    keepDays: Number($('s-keep-days').value), keepMinVerified: Number($('s-keep-min').value), notifySuccess: $('s-notify-success').checked,
  };
  try {
    await api.setSettings(settings);
    await api.autostart($('s-autostart').checked).catch(() => null);
    text($('settings-result'), 'Saved.');
    refresh();
  } catch (e) {
    if (!(e.field && fieldError(form, e.field, e.message))) text($('settings-result'), e.message);
  }
}

async function addSource() {
  const path = await api.pickFolder();
  if (!path) return; // the picker was cancelled: nothing to add
  const current = formSources();
  const base = String(path).split(/[\\/]/).filter(Boolean).pop() || 'folder';
  let name = base.replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[-.]+/, '').slice(0, 60) || 'folder';
  while (current.some((s) => s.name === name)) name = `${name}-2`;
  current.push({ name, path, include: [], exclude: [] });
  renderSources(current);
}

function para(s, cls) { const p = document.createElement('p'); p.textContent = s; if (cls) p.className = cls; return p; }

async function siteLook() {
  const out = $('site-out');
  $('site-use').hidden = true;
  text($('site-result'), '');
  out.replaceChildren(para('Looking…', 'muted'));
  try {
    const s = await api.discoverSite($('site-root').value);
    const rows = [];
    if (s.found.length) {
      const t = document.createElement('table');
      s.found.forEach((f) => { const tr = t.insertRow(); [f.label, f.shown, `from ${f.from}`].forEach((c) => { tr.insertCell().textContent = c; }); });
      rows.push(t);
    } else rows.push(para('No HR-SM settings were found in this folder.', 'warn'));
    s.missing.forEach((m) => rows.push(para(m, 'muted')));
    s.problems.forEach((m) => rows.push(para(m, 'warn')));
    if (s.databases.length) rows.push(para(`Databases backed up: ${s.databases.join('; ')}, and every company database.`));
    rows.push(para(`Folders backed up: ${s.folders.join('; ')}.`));
    out.replaceChildren(...rows);
    $('site-use').hidden = false;
  } catch (e) { out.replaceChildren(para(e.message, 'warn')); }
}

async function siteUse() {
  try {
    await api.useSite($('site-root').value);
    delete $('site-root').dataset.touched;
    text($('site-result'), 'Saved: backups now take this installation.');
    if (current === 'settings') await loadSettings();
    if (current === 'setup') await loadSetup();
    refresh();
  } catch (e) { text($('site-result'), e.message); }
}

async function testConnection(out) {
  text(out, 'Connecting…');
  out.className = 'muted';
  try {
    const c = await api.testConnection();
    text(out, `Connected: ${c.server}.${c.databases.length ? ` Databases: ${c.databases.join(', ')}.` : ''}`);
    out.className = 'ok';
  } catch (e) { text(out, e.message); out.className = 'bad'; }
}

async function loadSetup() {
  const s = await api.getSettings();
  if (!$('site-root').dataset.touched) $('site-root').value = s.hrsmRoot || '';
  clearFieldErrors($('w-form'));
  $('w-dest').value = s.destination; $('w-time').value = s.scheduleTime;
  await fillZones($('w-tz'), s.scheduleTimezone);
}

async function setupSave(ev) {
  ev.preventDefault();
  const form = $('w-form');
  clearFieldErrors(form);
  text($('w-result'), '');
  if (!$('w-time').value) { fieldError(form, 'scheduleTime', 'Give the time of the daily backup.'); return; }
  try {
    const s = await api.getSettings();
    await api.setSettings({ ...s, destination: $('w-dest').value, scheduleTime: $('w-time').value, scheduleTimezone: $('w-tz').value, scheduleEnabled: true });
    text($('w-result'), 'Saved.');
    refresh();
  } catch (e) {
    if (!(e.field && fieldError(form, e.field, e.message))) text($('w-result'), e.message);
  }
}

async function startDemo() {
  const out = $('setup-demo-result');
  $('setup-demo').disabled = true;
  text(out, 'Preparing the sample data (a few seconds)…');
  try { render(await api.startDemo()); text(out, ''); show('dashboard'); } catch (e) { text(out, e.message); } finally { $('setup-demo').disabled = false; }
}

async function leaveDemo() {
  $('demo-leave').disabled = true;
  try { render(await api.leaveDemo()); show(lastStatus?.state === 'setup' ? 'setup' : current); } catch (e) { banner(e.message, true); } finally { $('demo-leave').disabled = false; }
}

const legacyWords = { imported: 'imported', already_imported: 'already imported', would_import: 'can be imported', failed: 'cannot be imported' };
async function legacy(importing) {
  const out = $('legacy-out');
  $('legacy-look').disabled = true; $('legacy-import').disabled = true;
  out.replaceChildren(para(importing ? 'Importing…' : 'Opening each old backup (this reads all of them)…', 'muted'));
  try {
    const call = importing ? api.legacyImport : api.legacyLook;
    const r = await call($('site-root').value, $('legacy-keys').value, (e) => { if (e.event === 'phase') text($('legacy-phase'), e.data.name); });
    const rows = [para(`${r.backups.length} old backup(s) in ${r.folder}.`)];
    if (r.backups.length) {
      const t = document.createElement('table');
      const head = t.createTHead().insertRow();
      ['Made', 'Kind', 'What it held', 'Result', 'Not recovered'].forEach((h) => { const th = document.createElement('th'); th.textContent = h; head.appendChild(th); });
      const body = t.createTBody();
      r.backups.forEach((b) => {
        const tr = body.insertRow();
        if (b.result === 'failed') tr.className = 'failed';
        [fmtTime(b.made), b.format && b.format !== 'service' ? `Backups page (${b.type})` : b.type, b.held.join('; '), b.result === 'failed' ? `cannot be imported: ${b.error}` : legacyWords[b.result], b.losses.join('; ') || '—'].forEach((c) => { tr.insertCell().textContent = c; });
      });
      rows.push(t);
    }
    if (r.backups.some((b) => b.result === 'failed' && (b.needs_key || /key/i.test(b.error || '')))) rows.push(para(`Keys looked at: ${r.keysSearched.join('; ')}. Type the old key above if you have it.`, 'warn'));
    if (r.skipped && r.skipped.length) rows.push(para(`Left alone: ${r.skipped.join('; ')}.`, 'muted'));
    out.replaceChildren(...rows);
    $('legacy-import').hidden = importing || !r.backups.some((b) => b.result === 'would_import');
    if (importing) { $('legacy-keys').value = ''; refresh(); }
  } catch (e) { out.replaceChildren(para(e.message, 'warn')); } finally {
    $('legacy-look').disabled = false; $('legacy-import').disabled = false; text($('legacy-phase'), '');
  }
}

/** The destination being edited (its name before the edit), or null for a new one. */
let offsiteEditing = null;
function offsiteKindShown() {
  const kind = /** @type {HTMLSelectElement} */ ($('o-kind')).value;
  document.querySelectorAll('#offsite-form .o-s3').forEach((e) => { e.hidden = kind !== 's3'; });
  document.querySelectorAll('#offsite-form .o-azure').forEach((e) => { e.hidden = kind !== 'azure'; });
  document.querySelectorAll('#offsite-form .o-cloud').forEach((e) => { e.hidden = kind === 'folder'; });
  document.querySelectorAll('#offsite-form .o-folder').forEach((e) => { e.hidden = kind !== 'folder'; });
}
async function offsiteEdit(name) {
  const form = $('offsite-form');
  clearFieldErrors(form);
  text($('o-result'), '');
  offsiteEditing = name;
  const s = name ? (await api.getSettings()).offsite?.find((d) => d.name === name) : null;
  const set = (id, v) => { /** @type {HTMLInputElement} */ ($(id)).value = v ?? ''; };
  set('o-kind', s?.kind || 's3'); set('o-name', s?.name || (name ? name : '')); set('o-endpoint', s?.endpoint); set('o-region', s?.region);
  set('o-account', s?.account); set('o-bucket', s?.bucket); set('o-prefix', s?.prefix); set('o-path', s?.path);
  set('o-keep-days', s?.keepDays || 90); set('o-limit', s?.uploadLimitMbps || ''); set('o-key-id', ''); set('o-secret', ''); set('o-account-key', '');
  /** @type {HTMLInputElement} */ ($('o-enabled')).checked = s ? s.enabled : true;
  text($('o-key-note'), name ? 'Leave the key fields empty to keep the key already stored in this computer\'s keychain.' : 'The key is kept in this computer\'s keychain, never in a file.');
  form.hidden = false;
  offsiteKindShown();
  $('o-name').focus();
}
function offsiteFormValues() {
  const v = (id) => /** @type {HTMLInputElement} */ ($(id)).value.trim();
  const form = { originalName: offsiteEditing, name: v('o-name'), kind: v('o-kind'), endpoint: v('o-endpoint'), region: v('o-region'), account: v('o-account'), bucket: v('o-bucket'), prefix: v('o-prefix'), path: v('o-path'), keepDays: Number(v('o-keep-days')), uploadLimitMbps: v('o-limit') === '' ? null : Number(v('o-limit')), enabled: /** @type {HTMLInputElement} */ ($('o-enabled')).checked };
  const secret = { accessKeyId: v('o-key-id'), secretAccessKey: v('o-secret'), accountKey: v('o-account-key') };
  return { form, secret: (secret.accessKeyId || secret.secretAccessKey || secret.accountKey) ? secret : null };
}
async function offsiteTest() {
  const root = $('offsite-form');
  clearFieldErrors(root);
  text($('o-result'), 'Connecting…');
  $('o-result').className = 'muted';
  const { form, secret } = offsiteFormValues();
  try { text($('o-result'), await api.offsiteTest(form, secret)); $('o-result').className = 'ok'; }
  catch (e) { $('o-result').className = 'bad'; if (!(e.field && fieldError(root, e.field, e.message))) text($('o-result'), e.message); else text($('o-result'), ''); }
}
async function offsiteSave(ev) {
  ev.preventDefault();
  const root = $('offsite-form');
  clearFieldErrors(root);
  text($('o-result'), '');
  const { form, secret } = offsiteFormValues();
  if (!Number.isInteger(form.keepDays) || form.keepDays < 1) { fieldError(root, 'offsiteKeepDays', 'Enter a whole number of days, 1 or more.'); return; }
  if (form.uploadLimitMbps !== null && (!Number.isInteger(form.uploadLimitMbps) || form.uploadLimitMbps < 1)) { fieldError(root, 'offsiteLimit', 'Enter a whole number of megabits per second, or leave it empty for no limit.'); return; }
  try {
    const list = await api.offsiteSave(form, secret);
    renderOffsite(list);
    root.hidden = true;
    /** @type {HTMLInputElement} */ ($('o-secret')).value = ''; /** @type {HTMLInputElement} */ ($('o-account-key')).value = '';
    text($('offsite-copy-result'), '');
    refresh();
  } catch (e) { $('o-result').className = 'bad'; if (!(e.field && fieldError(root, e.field, e.message))) text($('o-result'), e.message); }
}
async function offsiteRemove(name) {
  if (!confirm(`Stop copying to ${name}? The copies already there stay there.`)) return;
  try { renderOffsite(await api.offsiteRemove(name)); refresh(); } catch (e) { banner(e.message, true); }
}
async function remoteLook() {
  const name = /** @type {HTMLSelectElement} */ ($('remote-pick')).value;
  text($('remote-result'), 'Looking…');
  $('remote-result').className = 'muted';
  try {
    const rows = (await api.offsiteBackups(name)).slice().reverse();
    text($('remote-result'), rows.length ? '' : 'This computer has every backup stored there.');
    $('remote-table').hidden = rows.length === 0;
    $('remote-rows').replaceChildren(...rows.map((e) => {
      const tr = document.createElement('tr');
      [fmtTime(e.started), fmtBytes(e.size), (e.databases || []).join(', ')].forEach((c) => { const td = document.createElement('td'); td.textContent = c; tr.appendChild(td); });
      const td = document.createElement('td');
      const b = document.createElement('button'); b.type = 'button'; b.textContent = 'Download';
      const r = document.createElement('button'); r.type = 'button'; r.textContent = 'Restore from it…';
      /** Downloads (checked as it arrives); then, for "Restore from it…", opens it in Restore. */
      const fetchIt = async (thenRestore) => {
        b.disabled = true; r.disabled = true;
        text($('remote-result'), 'Downloading…');
        $('remote-result').className = 'muted';
        try {
          await api.offsiteFetch(name, e.id, (ev) => { if (ev.event === 'progress' && ev.data.total) text($('remote-result'), `Downloading… ${Math.floor((100 * ev.data.done) / ev.data.total)}%`); });
          $('remote-result').className = 'ok';
          text($('remote-result'), `Downloaded and checked: the backup of ${fmtTime(e.started)} is now on this computer${thenRestore ? ' and chosen above' : ', in History and in Restore'}.`);
          tr.remove();
          $('remote-table').hidden = $('remote-rows').children.length === 0;
          if (thenRestore) { if (current === 'restore') loadRestore(e.id); else show('restore', e.id); window.scrollTo(0, 0); } else if (current === 'history') loadHistory(); else loadRestore();
        } catch (err) { b.disabled = false; r.disabled = false; $('remote-result').className = 'bad'; text($('remote-result'), err.message); }
      };
      b.onclick = () => fetchIt(false);
      r.onclick = () => fetchIt(true);
      td.append(b, ' ', r);
      tr.appendChild(td);
      return tr;
    }));
  } catch (e) { $('remote-result').className = 'bad'; text($('remote-result'), e.message); }
}

async function pickInto(input) { const p = await api.pickFolder(); if (p) input.value = p; }

const kindWords = { backup: 'Backup', restore: 'Restore', 'test-restore': 'Test restore', 'offsite-copy': 'Off-site copy' };
const resultWords = { ok: 'done', failed: 'FAILED', cancelled: 'cancelled' };
async function loadLog() {
  text($('log-zone'), `Times in ${zone}.`);
  const onlyFailures = $('log-failures').checked;
  const records = (await api.logs()).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean).reverse();
  const shown = records.filter((r) => !onlyFailures || r.status === 'failed');
  $('log-rows').replaceChildren(...shown.map((r) => {
    const tr = document.createElement('tr');
    if (r.status === 'failed') tr.className = 'failed';
    [fmtTime(r.finished, true), kindWords[r.kind] || r.kind, resultWords[r.status] || r.status, r.backup_id || '', r.error || ''].forEach((c) => { tr.insertCell().textContent = c; });
    return tr;
  }));
  $('log-empty').hidden = shown.length > 0;
  text($('log-empty'), records.length ? 'No failures logged.' : 'No runs logged yet.');
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('.tab').forEach((t) => t.addEventListener('click', () => show(t.dataset.view)));
  $('backup-now').addEventListener('click', backupNow);
  $('cancel').addEventListener('click', () => { text($('phase'), 'Cancelling…'); api.cancel(); });
  $('preflight').addEventListener('click', preflight);
  $('restore-go').addEventListener('click', restoreGo);
  $('confirm-word').addEventListener('input', () => { $('restore-go').disabled = !armed || $('confirm-word').value.trim() !== 'RESTORE'; });
  // Any change to what or where disarms the restore: the check must be made again.
  $('view-restore').addEventListener('change', (ev) => { if (ev.target !== $('confirm-word')) { disarmRestore(); $('preflight-out').replaceChildren(); } });
  $('view-restore').addEventListener('input', (ev) => { if (ev.target !== $('confirm-word')) { disarmRestore(); $('preflight-out').replaceChildren(); } });
  $('restore-pick').addEventListener('change', showContents);
  ['r-mode-back', 'r-mode-side'].forEach((id) => $(id).addEventListener('change', renderRestoreDatabases));
  $('settings-form').addEventListener('submit', saveSettings);
  $('s-add-source').addEventListener('click', addSource);
  $('offsite-add').addEventListener('click', () => offsiteEdit(null));
  $('o-kind').addEventListener('change', offsiteKindShown);
  $('o-test').addEventListener('click', offsiteTest);
  $('o-cancel').addEventListener('click', () => { $('offsite-form').hidden = true; });
  $('offsite-form').addEventListener('submit', offsiteSave);
  $('o-path-pick').addEventListener('click', () => pickInto($('o-path')));
  $('remote-look').addEventListener('click', remoteLook);
  $('offsite-copy-now').addEventListener('click', async () => {
    try { renderOffsite(await api.offsiteCopyNow()); text($('offsite-copy-result'), 'Copying in the background; this page shows when it is done.'); } catch (e) { text($('offsite-copy-result'), e.message); }
  });
  $('s-dest-pick').addEventListener('click', () => pickInto($('s-dest')));
  $('s-test').addEventListener('click', () => testConnection($('s-test-result')));
  $('site-look').addEventListener('click', siteLook);
  ['focus', 'input'].forEach((ev) => $('site-root').addEventListener(ev, () => { $('site-root').dataset.touched = '1'; }));
  $('site-use').addEventListener('click', siteUse);
  $('site-pick').addEventListener('click', async () => { const p = await api.pickFolder(); if (p) { $('site-root').value = p; $('site-root').dataset.touched = '1'; siteLook(); } });
  $('state-setup').addEventListener('click', () => show('setup'));
  $('setup-demo').addEventListener('click', startDemo);
  $('demo-leave').addEventListener('click', leaveDemo);
  $('w-test').addEventListener('click', () => testConnection($('w-test-result')));
  $('w-form').addEventListener('submit', setupSave);
  $('w-dest-pick').addEventListener('click', () => pickInto($('w-dest')));
  $('w-backup').addEventListener('click', () => { show('dashboard'); backupNow(); });
  $('log-failures').addEventListener('change', loadLog);
  $('legacy-look').addEventListener('click', () => legacy(false));
  $('legacy-import').addEventListener('click', () => legacy(true));
  $('key-export').addEventListener('click', async () => { try { $('key-text').value = await api.exportKey(); $('key-box').hidden = false; } catch (e) { text($('key-result'), e.message); } });
  $('key-copy').addEventListener('click', async () => {
    try { await navigator.clipboard.writeText($('key-text').value); text($('key-result'), 'Copied. Paste it somewhere safe, away from this computer.'); } catch { $('key-text').select(); text($('key-result'), 'Select the key above and copy it (Ctrl+C).'); }
  });
  $('key-save').addEventListener('click', async () => { try { const p = await api.saveKeyFile(); if (p) text($('key-result'), `Saved to ${p}.`); } catch (e) { text($('key-result'), e.message); } });
  $('key-print').addEventListener('click', printRecoverySheet);
  $('key-done').addEventListener('click', async () => { await api.confirmKeyExported(); $('key-box').hidden = true; $('key-text').value = ''; text($('key-result'), 'Thank you: the reminder is off.'); refresh(); });
  $('key-import').addEventListener('click', async () => { try { await api.importKey($('key-import-text').value); $('key-import-text').value = ''; text($('key-result'), 'Key imported: backups made with it can be opened now.'); refresh(); } catch (e) { text($('key-result'), e.message); } });
  // The first status decides the first view: the set-up on a fresh install.
  api.status().then((s) => { render(s); if (s.state === 'setup') show('setup'); }).catch((e) => banner(e.message, true));
  // The shell says when the state or the history changes (its own jobs, runs started
  // elsewhere, the clock passing a slot); the page keeps no timer of its own.
  api.onStateChanged(render).then((ok) => { if (!ok) setInterval(refresh, 10000); });
  api.onHistoryChanged(() => { if (current === 'history') loadHistory(); });
});
