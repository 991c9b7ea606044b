// A stand-in for the desktop shell, for testing the page alone in headless Chromium: it plays
// the part of window.__TAURI__ (core.invoke and core.Channel) with canned answers chosen by the
// page URL's ?scenario=..., and records every call in window.__calls for the test to read.
(() => {
  const scenario = new URLSearchParams(location.search).get('scenario') || 'healthy';
  const now = Date.now();
  const entry = (i, status) => ({ id: `hrsm-2026112${i}T020000Z-00${i}`, status, started: new Date(now - i * 86400000).toISOString(), finished: new Date(now - i * 86400000 + 5000).toISOString(), duration_ms: 5200 + i, archive: status === 'ok' ? `b${i}.hrsmbk` : null, size: 1000000 * (i + 1), verified: status === 'ok', files: 24, bytes: 1100000, documents: 1816, databases: ['hrms'], sources: ['uploads'], error: status === 'ok' ? null : 'cannot reach MongoDB at 127.0.0.1:27017' });
  const history = [entry(3, 'ok'), entry(2, 'failed'), entry(1, 'ok')];
  const status = {
    state: { nokey: 'no-key', setup: 'setup' }[scenario] || 'healthy', label: { nokey: 'No encryption key', setup: 'Not set up yet' }[scenario] || 'Healthy', timezone: 'UTC', last: history[2], last_good: history[2], next_run: new Date(now + 3600000).toISOString(), schedule: '02:00 UTC',
    backups_enabled: true, key_id: scenario === 'nokey' ? null : 'ab'.repeat(16), key_error: scenario === 'nokey' ? 'OS keychain: the keychain is locked; unlock it or set BACKUP_ENCRYPTION_KEY' : null,
    key_exported: true, destination: '/srv/backups', demo: false, message: null,
    offsite: scenario === 'offsite' ? [{ name: 'cloud', place: 'S3 storage, bucket hrsm-backups', enabled: true, state: 'failed', message: 'The storage service refused the credentials; check the access key and its rights on the bucket', copies: 1, copiedIds: [history[2].id], lastRun: new Date(now).toISOString(), lastRunLocal: '01 Dec 02:05 UTC', kind: 's3' }] : [],
  };
  const settings = { mongodbEnabled: true, mongodbUri: 'mongodb://backup:***@db:27017', databases: ['hrms', 'hrsm-licenses'], sources: [{ name: 'uploads', path: '/opt/hr-sm/uploads', include: [], exclude: ['node_modules/**'] }], destination: '/srv/backups', scheduleEnabled: true, scheduleTime: '02:00', scheduleTimezone: 'UTC', keepDays: 30, keepMinVerified: 3, notifySuccess: false };
  if (scenario === 'offsite') settings.offsite = [{ originalName: 'cloud', name: 'cloud', kind: 's3', bucket: 'hrsm-backups', prefix: '', endpoint: '', region: 'eu-central-1', account: '', path: '', keepDays: 90, enabled: true }];
  window.__calls = [];
  class Channel { constructor() { this.onmessage = () => {}; } }
  const answers = {
    status: () => status,
    history: () => history,
    get_settings: () => settings,
    time_zones: () => ['Africa/Cairo', 'Europe/Berlin', 'UTC'],
    verify: async () => { await new Promise((r) => setTimeout(r, 100)); return { files: 24, chunks: 3, collections_tested: 0 }; },
    backup_details: () => ({ mongo: { databases: [{ name: 'hrms', collections: [{ name: 'users', documents: 12 }] }] }, sources: [{ name: 'uploads', files: 24, bytes: 1100000, path: '/opt/hr-sm/uploads' }] }),
    restore_preflight: (args) => ({ backupId: args.request.id, files: null, collections: [{ from: 'hrms', to: args.request.databases[0]?.[1] || 'hrms', name: 'users', kind: 'collection', documents: 12, replaces: true }, { from: 'hrms', to: args.request.databases[0]?.[1] || 'hrms', name: 'readings', kind: 'timeseries', documents: 3, replaces: false }], confirmWord: 'RESTORE', confirmToken: `t${window.__calls.length}` }),
    restore: async (args) => { await new Promise((r) => setTimeout(r, 100)); return { files: null, mongo: { collections: [{ db: args.request.databases[0][1], name: 'users', documents: 12 }, { db: args.request.databases[0][1], name: 'readings', documents: 3, buckets: true }], warnings: ['a restore was stopped while it filled hrms_restored.users, which it had created: it may be incomplete; restore it again'] } }; },
    start_demo: () => { Object.assign(status, { state: 'no-backup', label: 'No backup yet', demo: true, message: null }); return status; },
    leave_demo: () => { Object.assign(status, { state: 'setup', label: 'Not set up yet', demo: false }); return status; },
    logs: () => [JSON.stringify({ kind: 'backup', status: 'ok', backup_id: history[2].id, finished: history[2].finished, error: null })],
    backup_now: async (args) => {
      const ch = args.onEvent;
      if (scenario === 'cancel') { ch.onmessage({ event: 'phase', data: { name: 'archiving' } }); await new Promise((r) => setTimeout(r, 100)); throw { kind: 'cancelled', message: 'Cancelled. Nothing of this run was kept.' }; }
      ch.onmessage({ event: 'started', data: { id: null } });
      ch.onmessage({ event: 'phase', data: { name: 'dumping' } });
      ch.onmessage({ event: 'detail', data: { text: 'hrms.users: 10000 of about 12000 documents' } });
      await new Promise((r) => setTimeout(r, 150));
      ch.onmessage({ event: 'progress', data: { done: 50, total: 100 } });
      await new Promise((r) => setTimeout(r, 150));
      ch.onmessage({ event: 'finished', data: { ok: true, message: 'done' } });
      return entry(0, 'ok');
    },
    discover_site: (args) => {
      if (!args.root) throw { kind: 'usage', message: 'Choose the folder HR-SM is installed in.' };
      return { root: args.root, found: [{ label: 'Main database', shown: 'mongodb://hrsm:***@db:27017/hrsm_platform', from: 'ecosystem.config.js' }, { label: 'Time zone', shown: 'Africa/Cairo', from: '.env' }],
        missing: ['No license database address was found: the license database is looked for on the main server.'], problems: [],
        databases: ['hrsm_platform (main) on mongodb://hrsm:***@db:27017/hrsm_platform'], folders: [`uploads: ${args.root}/uploads`] };
    },
    use_site: (args) => ({ ...settings, hrsmRoot: args.root, scheduleTimezone: 'Africa/Cairo' }),
    offsite_status: () => status.offsite,
    export_key: () => `hrsm-key-v1:${'0123456789abcdef'.repeat(4)}`,
    // What would be printed: the page as laid out for print when the shell is asked.
    print_sheet: () => {
      const s = document.getElementById('recovery-sheet');
      window.__printed = { text: s.innerText, sheet: getComputedStyle(s).display, main: getComputedStyle(document.querySelector('main')).display };
      return null;
    },
    offsite_test: (args) => {
      if (!args.form.bucket && args.form.kind !== 'folder') throw { kind: 'invalid', field: 'offsiteBucket', message: 'Enter the bucket name.' };
      return 'Connected: a test file was written, read back and removed at S3 storage, bucket x.';
    },
    offsite_save: (args) => {
      if (!args.form.bucket && args.form.kind !== 'folder') throw { kind: 'invalid', field: 'offsiteBucket', message: 'Enter the bucket name.' };
      status.offsite = [...status.offsite, { name: args.form.name, place: `S3 storage, bucket ${args.form.bucket}`, enabled: true, state: 'never', message: null, copies: 0, copiedIds: [], lastRun: null, lastRunLocal: null, kind: 's3' }];
      return status.offsite;
    },
    offsite_copy_now: () => status.offsite,
    offsite_backups: () => [entry(6, 'ok'), entry(7, 'ok')].filter((e) => !history.some((h) => h.id === e.id)),
    offsite_fetch: async (args) => {
      args.onEvent.onmessage({ event: 'progress', data: { done: 5, total: 10 } });
      await new Promise((r) => setTimeout(r, 100));
      const e = [entry(6, 'ok'), entry(7, 'ok')].find((x) => x.id === args.id);
      history.unshift(e);
      return e;
    },
    set_settings: (args) => {
      if (!args.settings.destination) throw { kind: 'invalid', field: 'destination', message: 'Choose the folder the backups go to.' };
      return args.settings;
    },
  };
  // The shell's events: the test fires them with window.__emit(name, payload).
  const listeners = {};
  window.__emit = (name, payload) => (listeners[name] || []).forEach((h) => h({ event: name, payload }));
  window.__TAURI__ = {
    event: {
      listen: async (name, handler) => {
        (listeners[name] = listeners[name] || []).push(handler);
        return () => {};
      },
    },
    core: {
      Channel,
      invoke: async (cmd, args) => {
        window.__calls.push([cmd, args]);
        const f = answers[cmd];
        if (!f) throw { kind: 'other', message: `no mock for ${cmd}` };
        return await f(args || {});
      },
    },
  };
})();
