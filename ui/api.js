// The one typed wrapper between the page and the desktop shell: every call to the shell goes
// through here, and every failure arrives as a CommandError the page can branch on.

/** @typedef {{kind: 'key'|'mongo'|'config'|'busy'|'archive'|'conflict'|'io'|'cancelled'|'usage'|'setup'|'demo'|'invalid'|'offsite'|'other', message: string, field?: string}} CommandError */
/** @typedef {{id: string, status: 'ok'|'failed'|'running'|'unindexed'|'cancelled', started: string, finished: string, duration_ms: number, archive: string|null, size: number, verified: boolean, files: number, bytes: number, documents: number, databases: string[], sources: string[], error: string|null, trigger?: 'scheduled'|'manual'|'before-restore', origin?: object}} CatalogEntry */
/** @typedef {{state: string, label: string, last: CatalogEntry|null, last_good: CatalogEntry|null, next_run: string|null, next_run_local: string|null, schedule: string, timezone: string, backups_enabled: boolean, key_id: string|null, key_error: string|null, key_exported: boolean, destination: string, demo: boolean, message: string|null, offsite: OffsiteStatus[]}} Status */
/** @typedef {{backupId: string, files: object|null, collections: {from: string, to: string, name: string, documents: number, replaces: boolean, expiry?: string[]}[], confirmWord: string, confirmToken: string}} Preflight */
/** @typedef {{root: string, found: {label: string, shown: string, from: string}[], missing: string[], problems: string[], databases: string[], folders: string[]}} Site */
/** @typedef {{name: string, place: string, enabled: boolean, state: 'ok'|'copying'|'failed'|'waiting'|'problem'|'never'|'pending', message: string|null, copies: number, copiedIds: string[], lastRun: string|null, lastRunLocal: string|null, kind: 's3'|'azure'|'folder', fromEnv: boolean, pending: number}} OffsiteStatus */
/** @typedef {{originalName?: string|null, name: string, kind: 's3'|'azure'|'folder', bucket?: string, prefix?: string, endpoint?: string, region?: string, account?: string, path?: string, keepDays?: number, uploadLimitMbps?: number|null, enabled?: boolean}} OffsiteForm */
/** @typedef {{accessKeyId?: string, secretAccessKey?: string, accountKey?: string}} OffsiteSecret */
/** @typedef {{event: 'started'|'phase'|'progress'|'detail'|'warning'|'finished', data: any}} JobEvent */
/** @typedef {{id: string, filesTo?: string|null, filesInPlace?: boolean, only?: string|null, overwrite?: boolean, databases?: [string, string][], collections?: string[], pauseTtl?: boolean}} RestoreRequest */

function core() {
  const t = /** @type {any} */ (window).__TAURI__;
  if (!t || !t.core) throw { kind: 'other', message: 'the desktop shell is not available' };
  return t.core;
}

/** @param {unknown} e @returns {CommandError} */
function asError(e) {
  if (e && typeof e === 'object' && 'kind' in e && 'message' in e) return /** @type {CommandError} */ (e);
  return { kind: 'other', message: String(e) };
}

/** @template T @param {string} cmd @param {Record<string, unknown>} [args] @returns {Promise<T>} */
async function call(cmd, args) {
  try {
    return await core().invoke(cmd, args);
  } catch (e) {
    throw asError(e);
  }
}

/** @param {(e: JobEvent) => void} onEvent */
function channel(onEvent) {
  const ch = new (core().Channel)();
  ch.onmessage = onEvent;
  return ch;
}

/**
 * Listens to an event the shell sends on its own (`state-changed` with a Status,
 * `history-changed`); returns false where the event API is missing.
 * @param {string} name @param {(payload: any) => void} handler
 */
async function listen(name, handler) {
  const ev = /** @type {any} */ (window).__TAURI__?.event;
  if (!ev?.listen) return false;
  await ev.listen(name, (e) => handler(e.payload));
  return true;
}

export const api = {
  /** @param {(s: Status) => void} handler */ onStateChanged: (handler) => listen('state-changed', handler),
  /** @param {() => void} handler */ onHistoryChanged: (handler) => listen('history-changed', () => handler()),
  /** @returns {Promise<Status>} */ status: () => call('status'),
  /** @param {(e: JobEvent) => void} onEvent @returns {Promise<CatalogEntry>} */
  backupNow: (onEvent) => call('backup_now', { onEvent: channel(onEvent) }),
  /** @returns {Promise<boolean>} */ cancel: () => call('cancel_backup'),
  /** @returns {Promise<CatalogEntry[]>} */ history: () => call('history'),
  /** @param {string} id */ details: (id) => call('backup_details', { id }),
  /** Checks a restore and arms exactly one restore of it. @param {RestoreRequest} request @returns {Promise<Preflight>} */
  preflight: (request) => call('restore_preflight', { request }),
  /** @param {RestoreRequest} request @param {string} confirm @param {string} token the check's confirmToken @param {(e: JobEvent) => void} onEvent */
  restore: (request, confirm, token, onEvent) => call('restore', { request, confirm, token, onEvent: channel(onEvent) }),
  /** Turns back on the expiry rules a restore paused. @param {string} id @param {[string, string][]} databases @returns {Promise<string[]>} */
  resumeExpiry: (id, databases) => call('resume_expiry', { id, databases }),
  /** @param {string} id @param {boolean} restoreTest @param {(e: JobEvent) => void} onEvent */
  verify: (id, restoreTest, onEvent) => call('verify', { id, restoreTest, onEvent: channel(onEvent) }),
  getSettings: () => call('get_settings'),
  /** @param {object} settings */ setSettings: (settings) => call('set_settings', { settings }),
  /** @returns {Promise<string>} */ exportKey: () => call('export_key'),
  confirmKeyExported: () => call('confirm_key_exported'),
  /** The system's print dialog for the page as laid out for print (on Linux it resolves when the dialog closes; on Windows at once, the web view's print holding the page). @returns {Promise<void>} */
  printSheet: () => call('print_sheet'),
  /** @param {string} text @returns {Promise<string>} */ importKey: (text) => call('import_key', { text }),
  /** @returns {Promise<string[]>} */ logs: () => call('logs'),
  /** What the HR-SM installation in `root` says about itself (secrets masked). @param {string} root @returns {Promise<Site>} */
  discoverSite: (root) => call('discover_site', { root }),
  /** Saves that installation's settings (passwords to the keychain). @param {string} root */
  useSite: (root) => call('use_site', { root }),
  /** "Try with sample data": switches the app to the demo. @returns {Promise<Status>} */
  startDemo: () => call('start_demo'),
  /** Back to the admin's own settings (or the set-up). @returns {Promise<Status>} */
  leaveDemo: () => call('leave_demo'),
  /** @returns {Promise<{server: string, databases: string[]}>} */ testConnection: () => call('test_connection'),
  /** @returns {Promise<string[]>} */ timeZones: () => call('time_zones'),
  /** The old backup service's backups in `root` (or the configured installation), opened and
   * checked, nothing written. `keys`: old keys the admin typed (one per line), never kept.
   * @param {string} root @param {string} keys @param {(e: JobEvent) => void} onEvent */
  legacyLook: (root, keys, onEvent) => call('legacy_look', { root, keys, onEvent: channel(onEvent) }),
  /** @param {string} root @param {string} keys @param {(e: JobEvent) => void} onEvent */
  legacyImport: (root, keys, onEvent) => call('legacy_import', { root, keys, onEvent: channel(onEvent) }),
  /** @returns {Promise<OffsiteStatus[]>} */ offsiteStatus: () => call('offsite_status'),
  /** Tries a destination as typed (nothing saved). @param {OffsiteForm} form @param {OffsiteSecret|null} secret @returns {Promise<string>} */
  offsiteTest: (form, secret) => call('offsite_test', { form, secret }),
  /** Adds or changes a destination (its key to the keychain). @param {OffsiteForm} form @param {OffsiteSecret|null} secret @returns {Promise<OffsiteStatus[]>} */
  offsiteSave: (form, secret) => call('offsite_save', { form, secret }),
  /** @param {string} name @returns {Promise<OffsiteStatus[]>} */ offsiteRemove: (name) => call('offsite_remove', { name }),
  /** @returns {Promise<OffsiteStatus[]>} */ offsiteCopyNow: () => call('offsite_copy_now'),
  /** The backups a destination holds that this computer lacks. @param {string} name @returns {Promise<CatalogEntry[]>} */
  offsiteBackups: (name) => call('offsite_backups', { name }),
  /** Downloads one (checked as it arrives) into the backups folder. @param {string} name @param {string} id @param {(e: JobEvent) => void} onEvent @returns {Promise<CatalogEntry>} */
  offsiteFetch: (name, id, onEvent) => call('offsite_fetch', { name, id, onEvent: channel(onEvent) }),
  /** Start at login (the autostart plugin); null when the plugin is not available. */
  async autostart(enable) {
    const a = /** @type {any} */ (window).__TAURI__?.autostart;
    if (!a) return null;
    if (enable === true) await a.enable();
    if (enable === false) await a.disable();
    return await a.isEnabled();
  },
  /** A folder picker (the dialog plugin), or null when none is available. */
  async pickFolder() {
    const dialog = /** @type {any} */ (window).__TAURI__?.dialog;
    if (!dialog) return null;
    return await dialog.open({ directory: true, multiple: false });
  },
  /** Asks where to save the recovery key and writes it there (0600); null if cancelled. */
  async saveKeyFile() {
    const t = /** @type {any} */ (window).__TAURI__;
    let defaultPath = 'hrsm-recovery-key.txt';
    // In the admin's documents (where a USB drive is one click away), not the program's folder.
    try { if (t?.path?.documentDir) defaultPath = await t.path.join(await t.path.documentDir(), defaultPath); } catch { /* the name alone */ }
    const path = t?.dialog?.save ? await t.dialog.save({ defaultPath }) : null;
    if (!path) return null;
    await call('save_key_file', { path });
    return path;
  },
};
