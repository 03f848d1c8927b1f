// @ts-check
/**
 * The dashboard's live connection: the Socket.IO namespace `/admin` of the server that served the page,
 * over socket.io-client (WebSocket transport only, like the editors' connection).
 *
 * The browser sends the wiki's session cookie with the handshake; an admin token kept in sessionStorage
 * goes in the `auth` payload, read again on every (re)connection. socket.io-client reconnects by itself
 * after a lost connection; after the server closed the namespace this class reconnects with a capped
 * backoff; after a refusal (not an admin) nobody retries: the page says so.
 *
 * @module admin/socket
 */

import { io } from 'socket.io-client'

/** @typedef {import('./snapshot.js').Snapshot} Snapshot */
/** @typedef {import('./snapshot.js').ActionEntry} ActionEntry */
/** @typedef {import('./snapshot.js').ActionResult} ActionResult */

export const NAMESPACE = '/admin'
/** sessionStorage key of the admin token (set by hand, for admins who are not wiki sysops). */
export const TOKEN_KEY = 'collab-admin-token'
/** An action waits this long for its answer (`end_session` saves to the wiki first). */
const ACK_TIMEOUT_MS = 120000
const RETRY_MS = 500
const RETRY_MAX_MS = 10000

/**
 * What the dashboard hears from its connection.
 * @typedef {Object} AdminHandlers
 * @property {() => void} up connected (again): ask for the current state
 * @property {() => void} down the connection was lost or cannot be made: retrying
 * @property {(err: {message?: string}) => void} refused the server refused the namespace: no retry
 * @property {(snapshot: unknown) => void} sessions a pushed `sessions` snapshot (as received: check it)
 * @property {(entry: ActionEntry) => void} action another (or this) admin acted
 */

/** @typedef {(...args: any[]) => void} Listener */

export class AdminSocket {
  /** @param {AdminHandlers} handlers */
  constructor (handlers) {
    this.handlers = handlers
    /** @type {import('socket.io-client').Socket|null} */
    this.socket = null
    /** @type {ReturnType<typeof setTimeout>|null} */
    this._retryTimer = null
    this._retryMs = RETRY_MS
  }

  /** Connect (once; socket.io-client keeps the connection up from then on). */
  open () {
    if (this.socket) return
    const socket = io(NAMESPACE, {
      transports: ['websocket'],
      reconnectionDelay: RETRY_MS,
      reconnectionDelayMax: RETRY_MAX_MS,
      auth: (cb) => {
        const token = sessionStorage.getItem(TOKEN_KEY)
        cb(token ? { token } : {})
      }
    })
    this.socket = socket
    socket.on('connect', () => {
      this._retryMs = RETRY_MS
      this.handlers.up()
    })
    socket.on('disconnect', (reason) => {
      this.handlers.down()
      // socket.io-client does not come back by itself after the server closed the namespace.
      if (reason === 'io server disconnect') this._reconnectLater()
    })
    socket.on('connect_error', (err) => {
      // A refusal by the namespace's connect handler leaves the socket inactive; a network failure
      // does not, and socket.io-client retries it.
      if (socket.active) this.handlers.down()
      else this.handlers.refused(err)
    })
    socket.on('sessions', (/** @type {unknown} */ data) => this.handlers.sessions(data))
    socket.on('action', (/** @type {ActionEntry} */ entry) => this.handlers.action(entry))
  }

  /**
   * Send an event and wait for its answer.
   * @param {string} event
   * @param {Object} [payload]
   * @return {Promise<any>} the server's answer; rejects when not connected, when the connection is
   *   lost before the answer, or after {@link ACK_TIMEOUT_MS}
   */
  call (event, payload) {
    const socket = this.socket
    if (!socket || !socket.connected) return Promise.reject(new Error('not connected'))
    return socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload ?? {})
  }

  _reconnectLater () {
    if (this._retryTimer !== null) return
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null
      if (this.socket && !this.socket.connected) this.socket.connect()
    }, this._retryMs)
    this._retryMs = Math.min(this._retryMs * 2, RETRY_MAX_MS)
  }
}
