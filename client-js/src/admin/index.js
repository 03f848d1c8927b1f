// @ts-check
/**
 * MediaWiki Collab admin dashboard (`/admin`): live over the Socket.IO namespace `/admin`, no polling,
 * no CDN. Bundled by build.mjs into collab/static/admin.js, which the server serves at /admin/admin.js.
 *
 * Everything shown comes from `sessions` snapshots the server pushes when something changes; a local
 * one-second tick only re-renders relative times ("idle 12 s") from the last snapshot.
 *
 * @module admin
 */

import { AdminSocket } from './socket.js'
import { createDashboard } from './view.js'

/** @typedef {import('./snapshot.js').ActionResult} ActionResult */

/**
 * The notice line after an action.
 * @param {string} action
 * @param {ActionResult|null|undefined} result
 */
function describe (action, result) {
  if (!result || !result.ok) return `Failed: ${(result && result.error && result.error.message) || 'no answer'}`
  if (action === 'save_now') return result.revid ? `Saved as revision ${result.revid}.` : 'Nothing new to save.'
  if (action === 'end_session') return `Session ended: ${result.disconnected} editor(s) disconnected${result.revid ? `, saved as revision ${result.revid}` : ''}.`
  return `${result.disconnected} connection(s) disconnected.`
}

/**
 * @param {string} action
 * @param {Object} payload
 * @param {string} question
 */
async function act (action, payload, question) {
  if (!window.confirm(question)) return
  try {
    /** @type {ActionResult|null} */
    const result = await sock.call(action, payload)
    view.notice(describe(action, result), !(result && result.ok))
  } catch (err) {
    view.notice(`Failed: ${/** @type {Error} */ (err).message}`, true)
  }
}

const view = createDashboard({ onAction: (action, payload, question) => { act(action, payload, question) } })

const sock = new AdminSocket({
  up: async () => {
    view.connection('live')
    try {
      /** @type {ActionResult|null} */
      const who = await sock.call('whoami')
      if (who && who.ok) view.signedInAs(who.via === 'token' ? 'admin token' : who.name ?? '')
      view.setSnapshot(await sock.call('sessions'))
    } catch (err) {
      view.notice(`Could not load the sessions: ${/** @type {Error} */ (err).message}`, true)
    }
  },
  down: () => view.connection('reconnecting…'),
  refused: (err) => view.connection('refused', err.message),
  sessions: (data) => view.setSnapshot(data),
  action: (entry) => view.logAction(entry)
})
sock.open()
setInterval(() => view.tick(), 1000)
