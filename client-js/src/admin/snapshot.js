// @ts-check
/**
 * What the server's `/admin` namespace sends: the `sessions` snapshot (the same as `GET /api/sessions`
 * and `collab sessions`; described in `collab/admin/hub.py`), the `action` log entries and the acks.
 * Types only.
 *
 * @module admin/snapshot
 */

/**
 * @typedef {Object} Editor
 * @property {string} sid
 * @property {string} user
 * @property {boolean} readonly
 * @property {number} connected_since epoch seconds
 * @property {number} last_active epoch seconds
 * @property {number} idle_s
 */

/**
 * @typedef {Object} Session one open page
 * @property {string} title
 * @property {string} node
 * @property {{page: string, history: string, unsaved_diff?: string}} links `unsaved_diff`: this server's page
 *   showing the diff from the last revision to the live text
 * @property {Editor[]} editors
 * @property {{changes: number, chars?: number, oldest_at: number|null, oldest_age_s: number|null, authors: string[]}} unsaved
 *   `changes`: updates received (about one per keystroke); `chars`: characters changed since the last revision
 * @property {boolean} saving
 * @property {number|null} base_revid
 * @property {{revid: number, diff: string, timestamp: string|null, coauthors: string[]}|null} last_save
 * @property {number} saves
 * @property {number} outside_merges
 * @property {number} conflicts
 * @property {string|null} last_error
 */

/**
 * @typedef {Object} Totals
 * @property {number} pages
 * @property {number} editors
 * @property {number} users
 * @property {number} connections
 * @property {number} unsaved_changes
 * @property {number} [unsaved_chars]
 * @property {number} unsaved_pages
 * @property {number} saving
 * @property {number} errors
 * @property {number} outside_merges
 * @property {number} conflicts
 * @property {number} edits_last_hour
 * @property {number} saves_last_hour
 */

/**
 * @typedef {Object} History per-minute counts of the last hour
 * @property {number} step_s
 * @property {number} start epoch seconds of the first minute
 * @property {number[]} edits
 * @property {number[]} saves
 */

/**
 * @typedef {Object} Snapshot
 * @property {number} generated_at epoch seconds on the server's clock
 * @property {string} node
 * @property {Totals} totals
 * @property {History} history
 * @property {Session[]} sessions
 */

/**
 * The answer to an action (`save_now`, `end_session`, `disconnect_user`) or to `whoami`.
 * @typedef {Object} ActionResult
 * @property {boolean} ok
 * @property {number|null} [revid]
 * @property {number} [disconnected]
 * @property {string} [name] whoami: the admin's name
 * @property {'token'|'cookie'|string} [via] whoami: how the admin was recognised
 * @property {{code: string, message: string}} [error]
 */

/**
 * One admin action, as announced to every admin.
 * @typedef {Object} ActionEntry
 * @property {number} at epoch seconds
 * @property {string} admin
 * @property {string} action
 * @property {string} title
 * @property {string|null} [target]
 * @property {ActionResult|null} [result]
 */

export {}
