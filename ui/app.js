// The page: views over the shell's commands (all through api.js).
import { api } from './api.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const fmtBytes = (n) => { const u = ['B', 'KiB', 'MiB', 'GiB']; let i = 0; let v = n; while (v >= 1024 && i < 3) { v /= 1024; i++; } return i ? `${v.toFixed(1)} ${u[i]}` : `${n} B`; };
const fmtTime = (t) => (t ? new Date(t).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '—');
const text = (el, s) => { el.textContent = s; };
const stateLabels = { healthy: 'Healthy', running: 'Backing up…', failed: 'Last run failed', overdue: 'Overdue', paused: 'Paused', 'no-backup': 'No backup yet', 'no-key': 'No encryption key' };

function show(view) {
  document.querySelectorAll('.view').forEach((v) => { v.hidden = v.id !== `view-${view}`; });
  document.querySelectorAll('.tab').forEach((t) => t.classList.toggle('active', t.dataset.view === view));
  if (view === 'history') loadHistory();
  if (view === 'restore') loadRestore();
  if (view === 'settings') loadSettings();
  if (view === 'log') loadLog();
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

/** Shows a status: asked for by `refresh`, or sent by the shell when it changes. */
function render(s) {
  const st = $('state');
  st.className = `state ${s.state}`;
  text(st, stateLabels[s.state] || s.state);
  if (s.state === 'overdue') { const b = document.createElement('span'); b.className = 'badge'; b.textContent = 'overdue'; st.appendChild(b); }
  text($('state-message'), s.message || (s.demo ? 'Demo mode: a local sample HR-SM database and uploads folder. To back up your own HR-SM, open Settings → HR-SM installation.' : ''));
  text($('last'), s.last ? `${fmtTime(s.last.started)} · ${s.last.status}${s.last.archive ? ` · ${fmtBytes(s.last.size)} in ${(s.last.duration_ms / 1000).toFixed(1)} s` : ''}` : 'none yet');
  text($('next'), s.next_run ? fmtTime(s.next_run) : (s.backups_enabled ? '—' : 'paused'));
  text($('schedule'), `daily at ${s.schedule}`);
  if (s.key_error) banner(`No encryption key: ${s.key_error}`, true);
  else if (!s.key_exported) banner('Your recovery key has not been exported yet: Settings → Encryption key. Without it, losing this workstation loses the backups.', false);
  else banner('', false);
  $('backup-now').disabled = s.state === 'running' || !!s.key_error;
}

async function backupNow() {
  $('backup-now').disabled = true;
  $('cancel').hidden = false;
  $('progress-wrap').hidden = false;
  text($('result'), '');
  $('bar-fill').style.width = '0%';
  try {
    const entry = await api.backupNow((e) => {
      if (e.event === 'phase') text($('phase'), e.data.name);
      if (e.event === 'progress' && e.data.total) $('bar-fill').style.width = `${Math.min(100, (100 * e.data.done) / e.data.total).toFixed(1)}%`;
      if (e.event === 'warning') text($('result'), `warning: ${e.data.message}`);
    });
    $('bar-fill').style.width = '100%';
    text($('result'), `Backup ${entry.id} done: ${entry.files} files, ${entry.documents} documents, ${fmtBytes(entry.size)}${entry.verified ? ', verified' : ''}.`);
  } catch (e) {
    text($('result'), `${e.kind === 'cancelled' ? 'Cancelled' : 'Failed'}: ${e.message}`);
  } finally {
    $('cancel').hidden = true;
    refresh();
  }
}

async function loadHistory() {
  const rows = (await api.history()).slice().reverse();
  const body = $('history-rows');
  body.replaceChildren(...rows.map((e) => {
    const tr = document.createElement('tr');
    const cells = [fmtTime(e.started), e.status, e.archive ? fmtBytes(e.size) : '—', `${(e.duration_ms / 1000).toFixed(1)} s`, e.files, e.documents, e.verified ? 'yes' : 'no'];
    cells.forEach((c, i) => { const td = document.createElement('td'); td.textContent = String(c); if (i === 1) td.className = e.status === 'ok' ? 'ok' : 'bad'; if (i === 1 && e.error) td.title = e.error; tr.appendChild(td); });
    const td = document.createElement('td');
    if (e.archive) { const b = document.createElement('button'); b.textContent = 'Verify'; b.onclick = () => verifyOne(e.id, b); td.appendChild(b); }
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
  try { const r = await api.verify(id, false, () => {}); button.textContent = `OK (${r.chunks} chunks)`; } catch (e) { button.textContent = 'FAILED'; button.title = e.message; }
  loadHistory();
}

let restoreManifest = null;
async function loadRestore() {
  const pick = $('restore-pick');
  const rows = (await api.history()).filter((e) => e.status === 'ok').reverse();
  pick.replaceChildren(...rows.map((e) => { const o = document.createElement('option'); o.value = e.id; o.textContent = `${fmtTime(e.started)} — ${fmtBytes(e.size)}`; return o; }));
  pick.onchange = showContents;
  if (rows.length) showContents();
}

async function showContents() {
  const id = $('restore-pick').value;
  const box = $('restore-contents');
  try { restoreManifest = await api.details(id); } catch (e) { text(box, e.message); return; }
  const m = restoreManifest;
  const lines = [];
  (m.mongo?.databases || []).forEach((d) => lines.push(`database ${d.name}: ${d.collections.map((c) => `${c.name} (${c.documents})`).join(', ')}`));
  m.sources.forEach((s) => lines.push(`files ${s.name}: ${s.files} files, ${fmtBytes(s.bytes)} from ${s.path}`));
  box.replaceChildren(...lines.map((l) => { const p = document.createElement('p'); p.textContent = l; return p; }));
  const dbs = $('r-dbs');
  dbs.replaceChildren(...(m.mongo?.databases || []).map((d) => {
    const l = document.createElement('label');
    l.innerHTML = '';
    const cb = document.createElement('input'); cb.type = 'checkbox'; cb.dataset.db = d.name;
    const to = document.createElement('input'); to.value = `${d.name}_restored`; to.dataset.to = d.name; to.size = 24;
    l.append(cb, ` database ${d.name} into `, to);
    return l;
  }));
}

function restoreRequest() {
  const id = $('restore-pick').value;
  const databases = [...document.querySelectorAll('#r-dbs input[type=checkbox]')].filter((c) => c.checked).map((c) => [c.dataset.db, document.querySelector(`#r-dbs input[data-to="${c.dataset.db}"]`).value]);
  return { id, filesTo: $('r-files').checked ? $('r-files-to').value : null, overwrite: $('r-overwrite').checked, databases, collections: [] };
}

async function preflight() {
  const out = $('preflight-out');
  $('confirm-box').hidden = true;
  try {
    const p = await api.preflight(restoreRequest());
    const lines = [];
    if (p.files) lines.push(`Files: ${p.files.files} files (${fmtBytes(p.files.bytes)}) of ${p.files.sources.join(', ')}${p.files.replaced.length ? `, replacing ${p.files.replaced.length}` : ''}.`);
    p.collections.forEach((c) => lines.push(`${c.from}.${c.name} → ${c.to}.${c.name}: ${c.documents} documents${c.replaces ? ' (REPLACES the existing collection)' : ''}`));
    lines.push('Nothing is replaced until the whole backup has been checked.');
    out.replaceChildren(...lines.map((l) => { const p2 = document.createElement('p'); p2.textContent = l; return p2; }));
    $('confirm-box').hidden = false;
    $('confirm-word').focus();
  } catch (e) { text(out, `${e.kind}: ${e.message}`); }
}

async function restoreGo() {
  const result = $('restore-result');
  text(result, 'Restoring…');
  try {
    const r = await api.restore(restoreRequest(), $('confirm-word').value, (e) => { if (e.event === 'phase') text(result, `Restoring: ${e.data.name}…`); });
    const parts = [];
    if (r.files) parts.push(`${r.files.plan.files} files into ${r.files.target}`);
    (r.mongo?.collections || []).forEach((c) => parts.push(`${c.db}.${c.name}: ${c.documents} documents`));
    text(result, `Restored ${parts.join('; ')}.`);
  } catch (e) { text(result, `Restore failed (${e.kind}): ${e.message}`); }
}

async function loadSettings() {
  const s = await api.getSettings();
  $('s-mongo-enabled').checked = s.mongodbEnabled; $('s-uri').value = s.mongodbUri; $('s-dbs').value = s.databases.join(', ');
  $('s-dest').value = s.destination; $('s-sched-enabled').checked = s.scheduleEnabled; $('s-time').value = s.scheduleTime; $('s-tz').value = s.scheduleTimezone;
  $('s-keep-days').value = s.keepDays; $('s-keep-min').value = s.keepMinVerified; $('s-notify-success').checked = s.notifySuccess;
  renderSources(s.sources);
  // The configured folder, unless the admin has started typing one (settings load after the
  // view opens).
  if (!$('site-root').dataset.touched) $('site-root').value = s.hrsmRoot || '';
  try { $('s-autostart').checked = !!(await api.autostart()); } catch { $('s-autostart').disabled = true; }
  const st = await api.status();
  text($('key-id'), st.key_id || st.key_error || '—');
}

function renderSources(sources) {
  $('s-sources').replaceChildren(...sources.map((s) => {
    const l = document.createElement('label');
    const n = document.createElement('input'); n.value = s.name; n.size = 14; n.className = 'src-name';
    const p = document.createElement('input'); p.value = s.path; p.size = 60; p.className = 'src-path';
    const rm = document.createElement('button'); rm.type = 'button'; rm.textContent = 'Remove'; rm.onclick = () => l.remove();
    l.append(n, ' ', p, ' ', rm);
    return l;
  }));
}

async function saveSettings(ev) {
  ev.preventDefault();
  const sources = [...document.querySelectorAll('#s-sources label')].map((l) => ({ name: l.querySelector('.src-name').value, path: l.querySelector('.src-path').value }));
  const settings = {
    mongodbEnabled: $('s-mongo-enabled').checked, mongodbUri: $('s-uri').value, databases: $('s-dbs').value.split(',').map((x) => x.trim()).filter(Boolean),
    sources, destination: $('s-dest').value, scheduleEnabled: $('s-sched-enabled').checked, scheduleTime: $('s-time').value, scheduleTimezone: $('s-tz').value,
    keepDays: Number($('s-keep-days').value), keepMinVerified: Number($('s-keep-min').value), notifySuccess: $('s-notify-success').checked,
  };
  try { await api.setSettings(settings); await api.autostart($('s-autostart').checked).catch(() => null); text($('settings-result'), 'Saved.'); refresh(); } catch (e) { text($('settings-result'), `${e.kind}: ${e.message}`); }
}

async function addSource() {
  const path = await api.pickFolder();
  const current = [...document.querySelectorAll('#s-sources label')].map((l) => ({ name: l.querySelector('.src-name').value, path: l.querySelector('.src-path').value }));
  current.push({ name: `folder${current.length + 1}`, path: path || '' });
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
    await loadSettings();
    refresh();
  } catch (e) { text($('site-result'), e.message); }
}

async function loadLog() {
  const lines = await api.logs();
  text($('log'), lines.map((l) => { try { const r = JSON.parse(l); return `${r.finished}  ${r.kind.padEnd(8)} ${r.status.padEnd(7)} ${r.backup_id}  ${r.error || ''}`; } catch { return l; } }).reverse().join('\n') || 'No runs logged yet.');
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('.tab').forEach((t) => t.addEventListener('click', () => show(t.dataset.view)));
  $('backup-now').addEventListener('click', backupNow);
  $('cancel').addEventListener('click', () => api.cancel());
  $('preflight').addEventListener('click', preflight);
  $('restore-go').addEventListener('click', restoreGo);
  $('settings-form').addEventListener('submit', saveSettings);
  $('s-add-source').addEventListener('click', addSource);
  $('site-look').addEventListener('click', siteLook);
  ['focus', 'input'].forEach((ev) => $('site-root').addEventListener(ev, () => { $('site-root').dataset.touched = '1'; }));
  $('site-use').addEventListener('click', siteUse);
  $('site-pick').addEventListener('click', async () => { const p = await api.pickFolder(); if (p) { $('site-root').value = p; siteLook(); } });
  $('key-export').addEventListener('click', async () => { try { $('key-text').value = await api.exportKey(); $('key-box').hidden = false; } catch (e) { text($('key-result'), e.message); } });
  $('key-copy').addEventListener('click', () => navigator.clipboard?.writeText($('key-text').value));
  $('key-save').addEventListener('click', async () => { try { const p = await api.saveKeyFile(); if (p) text($('key-result'), `Saved to ${p}.`); } catch (e) { text($('key-result'), e.message); } });
  $('key-done').addEventListener('click', async () => { await api.confirmKeyExported(); $('key-box').hidden = true; $('key-text').value = ''; refresh(); });
  $('key-import').addEventListener('click', async () => { try { const id = await api.importKey($('key-import-text').value); text($('key-result'), `Imported key ${id}.`); refresh(); } catch (e) { text($('key-result'), `${e.kind}: ${e.message}`); } });
  refresh();
  // The shell says when the state or the history changes (its own jobs, runs started
  // elsewhere, the clock passing a slot); the page keeps no timer of its own.
  api.onStateChanged(render).then((ok) => { if (!ok) setInterval(refresh, 10000); });
  api.onHistoryChanged(() => { if (!$('view-history')?.hidden) loadHistory(); });
});
