// @ts-check
/**
 * One Socket.IO connection to the collab server, multiplexing any number of wiki pages.
 *
 * {@link CollabConnection} owns the socket.io-client socket: reconnection with capped exponential
 * backoff, fatal refusals (no reconnect loop), request/ack with timeouts, and routing of the `y` and
 * `status` events (both carry the page title first) to the pages attached to it. A page is anything
 * that hands it a {@link PageLink}: in this client, a {@link import('./page.js').PageProvider}.
 *
 * The interface between the two, in both directions, is:
 * - connection -> page: the {@link PageLink} callbacks (`connected`, `disconnected`, `y`, `status`,
 *   `destroy`);
 * - page -> connection: `attach`/`detach`, `join`/`claim`/`rename`/`ownerOf` for routing by title,
 *   `send`, `request`, and the read-only `connected`, `closed`, `status`, `joinTimeoutMs`, `saveTimeoutMs`.
 *
 * Nothing here touches the DOM, so the same code runs in browsers and in Node tests.
 *
 * @module connection
 */

import { ObservableV2 } from 'lib0/observable'
import { io } from 'socket.io-client'

import { EVENT_JOIN, EVENT_LEAVE, EVENT_SAVE, EVENT_STATUS, EVENT_Y } from './protocol.js'

/** @typedef {import('./protocol.js').ProtocolError} ProtocolError */
/** @typedef {import('./protocol.js').Failure} Failure */

/**
 * The socket surface this module uses: satisfied by a socket.io-client `Socket` and by test fakes.
 * @typedef {Object} SocketLike
 * @property {boolean} connected
 * @property {boolean} [active] false when socket.io-client will not reconnect by itself
 * @property {Array<any>} [sendBuffer] socket.io-client's queue of packets emitted while not connected
 * @property {(event: string, fn: (...args: any[]) => void) => any} on
 * @property {(event: string, fn: (...args: any[]) => void) => any} off
 * @property {(event: string, ...args: any[]) => any} emit
 * @property {() => any} connect
 * @property {() => any} disconnect
 */

/** @typedef {'connecting'|'connected'|'disconnected'} ConnectionStatus */

/** What a page is told when the server closed the connection without a fatal error code first. */
export const SERVER_CLOSED_MESSAGE = 'the collaboration server closed the connection'

/**
 * What a connection calls on a page attached to it. Plain functions (not the page's methods), so a page
 * keeps its handlers private and the connection sees nothing else of it.
 * @typedef {Object} PageLink
 * @property {() => void} connected the socket is connected (again): join if the page wants to
 * @property {(message: string|null, state: 'offline'|'error'|'closed') => void} disconnected the socket
 *   went down (`offline`, a reconnect follows), the server refused for good (`error`) or closed the
 *   connection (`closed`); after `error` and `closed` no reconnect follows; `message` says why when known
 * @property {(data: unknown) => void} y one `y` event for the page (ArrayBuffer in browsers, Buffer in Node)
 * @property {(status: unknown) => void} status one `status` event for the page, as the server sent it
 * @property {() => void} destroy the connection is being destroyed: destroy the page too
 */

/** Sent packets of these events are dropped from socket.io-client's buffer on disconnect. */
const OWN_EVENTS = new Set([EVENT_JOIN, EVENT_LEAVE, EVENT_SAVE, EVENT_Y])
/** Error codes after which retrying would only repeat the refusal: no automatic reconnect. */
const FATAL_CODES = new Set(['toolarge', 'forbidden'])
/** Messages kept for a title that is not routable yet (a join ack is pending); beyond that, dropped. */
export const MAX_EARLY_MESSAGES = 1000

/**
 * A failed request's answer, made on the client (`offline`, `timeout`, ...).
 * @param {string} code
 * @param {string} message
 * @return {Failure}
 */
export const failure = (code, message) => ({ ok: false, error: { code, message } })

/**
 * Capped exponential backoff with jitter in [delay/2, delay].
 * @param {number} attempt 0 for the first retry
 * @param {number} baseMs
 * @param {number} maxMs
 */
export const backoffMs = (attempt, baseMs, maxMs) => {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20))
  return Math.round(delay / 2 + Math.random() * delay / 2)
}

/**
 * Socket.IO reads the path of the URL as a namespace: a server behind a path prefix
 * (`https://wiki.example/collab`) must be reached with that origin and path `/collab/socket.io`.
 * @param {string} url
 * @return {{origin: string, path: string}}
 */
export const socketTarget = (url) => {
  const base = typeof location !== 'undefined' ? location.href : undefined
  const u = new URL(url, base)
  return { origin: u.origin, path: u.pathname.replace(/\/+$/, '') + '/socket.io' }
}

/**
 * One Socket.IO connection to the collab server, shared by any number of pages.
 *
 * Emits `status` (`{status}`) when the connection status changes and `connection-error` (`Error`)
 * when connecting fails. socket.io-client reconnects by itself after network failures; after a refusal
 * in a middleware this class reconnects with its own capped backoff. A connection the server closed
 * (`io server disconnect`: an admin, too many bad messages) or refused for good (`forbidden`,
 * `toolarge`) is final: {@link closed} becomes true, the pages are told, nothing reconnects.
 *
 * @extends {ObservableV2<{status: (e: {status: ConnectionStatus}) => void, 'connection-error': (e: any) => void}>}
 */
export class CollabConnection extends ObservableV2 {
  /**
   * @param {string} url the collab server's base URL (`http://127.0.0.1:8765`, or one with a path prefix)
   * @param {Object} [opts]
   * @param {Object} [opts.socketOptions] extra socket.io-client options (override the defaults below)
   * @param {Object|Function} [opts.auth] socket.io `auth` payload sent with the handshake
   * @param {SocketLike} [opts.socket] use this socket instead of creating one (tests)
   * @param {number} [opts.joinTimeoutMs] how long to wait for a join/leave ack
   * @param {number} [opts.saveTimeoutMs] how long to wait for a save ack (a large page may take seconds)
   * @param {number} [opts.reconnectDelayMs] first retry delay
   * @param {number} [opts.reconnectDelayMaxMs] retry delay cap
   */
  constructor (url, {
    socketOptions = {}, auth, socket, joinTimeoutMs = 15000, saveTimeoutMs = 120000,
    reconnectDelayMs = 500, reconnectDelayMaxMs = 10000
  } = {}) {
    super()
    this.url = url
    this.joinTimeoutMs = joinTimeoutMs
    this.saveTimeoutMs = saveTimeoutMs
    this.reconnectDelayMs = reconnectDelayMs
    this.reconnectDelayMaxMs = reconnectDelayMaxMs
    /** @type {Set<PageLink>} the pages attached (read-only outside this class) */
    this.pages = new Set()
    /** @type {Map<string, PageLink>} title (as requested and as normalised) -> page */
    this._byTitle = new Map()
    /** @type {Array<{title: string, event: string, data: unknown}>} events for titles not routable yet */
    this._early = []
    this._pendingJoins = 0
    /** @type {Set<(ack: any) => void>} */
    this._requests = new Set()
    /** @type {ReturnType<typeof setTimeout>|null} */
    this._retryTimer = null
    this._retryAttempts = 0
    this._destroyed = false
    /** @type {{code: string, message?: string}|null} a refusal that a reconnect would only repeat */
    this._fatal = null
    /** True once the server closed the connection or refused it for good: nothing reconnects. */
    this.closed = false
    if (socket) {
      this.socket = socket
    } else {
      const { origin, path } = socketTarget(url)
      // socket.io-client's Socket types `on`/`emit` by its event maps; SocketLike is the looser view.
      this.socket = /** @type {SocketLike} */ (/** @type {unknown} */ (io(origin, {
        path,
        transports: ['websocket'],
        reconnectionDelay: reconnectDelayMs,
        reconnectionDelayMax: reconnectDelayMaxMs,
        randomizationFactor: 0.5,
        ...(auth ? { auth } : {}),
        ...socketOptions
      })))
    }
    /** @type {ConnectionStatus} */
    this.status = this.socket.connected ? 'connected' : 'connecting'
    /** @type {Array<[string, (...args: any[]) => void]>} */
    this._handlers = [
      ['connect', () => this._onConnect()],
      ['disconnect', (/** @type {string} */ reason) => this._onDisconnect(reason)],
      ['connect_error', (/** @type {any} */ err) => this._onConnectError(err)],
      [EVENT_Y, (/** @type {unknown} */ title, /** @type {unknown} */ msg) => this._route(title, EVENT_Y, msg)],
      [EVENT_STATUS, (/** @type {unknown} */ title, /** @type {unknown} */ st) => this._route(title, EVENT_STATUS, st)]
    ]
    for (const [event, fn] of this._handlers) this.socket.on(event, fn)
  }

  /** True while the socket is connected: only then is anything sent. */
  get connected () {
    return this.socket.connected === true
  }

  /**
   * Send one `y` message for a page. Dropped (returns false) while disconnected: socket.io-client
   * would otherwise buffer it and replay it before the re-join, where the server refuses it.
   * @param {string} title
   * @param {Uint8Array} msg
   * @return {boolean} whether it was handed to the socket
   */
  send (title, msg) {
    if (!this.connected) return false
    this.socket.emit(EVENT_Y, title, msg)
    return true
  }

  /**
   * Emit an event with an acknowledgement. Always resolves, never rejects: with the server's ack, or
   * with `{ok: false, error: {code: 'offline'|'timeout'|'destroyed'|'badmessage', message}}`.
   * @param {string} event
   * @param {any[]} args
   * @param {number} timeoutMs
   * @return {Promise<any>}
   */
  request (event, args, timeoutMs) {
    return new Promise((resolve) => {
      if (this._destroyed) return resolve(failure('destroyed', 'the connection was closed'))
      if (!this.connected) return resolve(failure('offline', 'not connected to the collaboration server'))
      let done = false
      /** @param {any} ack */
      const finish = (ack) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this._requests.delete(finish)
        if (ack === null || typeof ack !== 'object' || typeof ack.ok !== 'boolean') {
          ack = failure('badmessage', `malformed answer to ${event}`)
        } else if (!ack.ok && (ack.error === null || typeof ack.error !== 'object')) {
          ack = failure('internal', `${event} failed without an error description`)
        }
        resolve(ack)
      }
      const timer = setTimeout(() => finish(failure('timeout', `no answer to ${event} within ${timeoutMs} ms`)), timeoutMs)
      this._requests.add(finish)
      this.socket.emit(event, ...args, finish)
    })
  }

  /**
   * Destroy every page, close the socket and remove every listener.
   */
  destroy () {
    if (this._destroyed) return
    for (const page of [...this.pages]) page.destroy()
    this._destroyed = true
    this._clearRetry()
    for (const finish of [...this._requests]) finish(failure('destroyed', 'the connection was closed'))
    for (const [event, fn] of this._handlers) this.socket.off(event, fn)
    this.socket.disconnect()
    this._setStatus('disconnected')
    super.destroy()
  }

  // --- the pages' side of the interface ---------------------------------------------------------------

  /**
   * Carry a page: from now on its link hears about (dis)connections and `destroy`.
   * @param {PageLink} page
   */
  attach (page) {
    this.pages.add(page)
  }

  /**
   * Stop carrying a page: it hears nothing more and no title routes to it.
   * @param {PageLink} page
   */
  detach (page) {
    this.pages.delete(page)
    for (const [title, p] of [...this._byTitle]) if (p === page) this._byTitle.delete(title)
  }

  /**
   * The page that events for `title` go to, if any.
   * @param {string} title
   * @return {PageLink|undefined}
   */
  ownerOf (title) {
    return this._byTitle.get(title)
  }

  /**
   * Join `title` for `page`: route the title to it and send the join. Until `onAck` has run, events for
   * titles nobody owns are kept, because the server may send its sync step 1 under the normalised title
   * before the ack tells it; `onAck` calls {@link claim} with that title to get them. The caller checked
   * with {@link ownerOf} that no other page has `title`.
   * @param {PageLink} page
   * @param {string} title
   * @param {(ack: import('./protocol.js').JoinAck) => void} onAck called once, with the server's ack or
   *   a client failure (`offline`, `timeout`, `destroyed`, `badmessage`)
   */
  join (page, title, onAck) {
    this._byTitle.set(title, page)
    this._pendingJoins++
    this.request(EVENT_JOIN, [title], this.joinTimeoutMs).then((ack) => {
      try {
        onAck(ack)
      } finally {
        // Only now: onAck() claimed the normalised title and got the events kept for it until this point.
        this._pendingJoins = Math.max(0, this._pendingJoins - 1)
        if (this._pendingJoins === 0) this._early = []
      }
    })
  }

  /**
   * The page moved from `from` to `to` (a `moved` status): events for `to` go to `page` from now on,
   * and `from` no longer routes to it (another page may open that title, e.g. the redirect left there).
   * The caller checked with {@link ownerOf} that no other page has `to`.
   * @param {PageLink} page
   * @param {string} from
   * @param {string} to
   */
  rename (page, from, to) {
    if (this._byTitle.get(from) === page) this._byTitle.delete(from)
    this._byTitle.set(to, page)
  }

  /**
   * Route `title` to `page` too, then deliver what arrived for it before it was routable.
   * The caller checked with {@link ownerOf} that no other page has this title.
   * @param {PageLink} page
   * @param {string} title
   */
  claim (page, title) {
    this._byTitle.set(title, page)
    if (this._early.length) {
      const mine = this._early.filter(e => e.title === title)
      this._early = this._early.filter(e => e.title !== title)
      for (const e of mine) this._deliver(page, e.event, e.data)
    }
  }

  // --- socket events --------------------------------------------------------------------------------

  /**
   * @param {unknown} title
   * @param {string} event
   * @param {unknown} data
   */
  _route (title, event, data) {
    if (typeof title !== 'string') return
    const page = this._byTitle.get(title)
    if (page) {
      this._deliver(page, event, data)
    } else if (this._pendingJoins > 0 && this._early.length < MAX_EARLY_MESSAGES) {
      this._early.push({ title, event, data })
    }
  }

  /**
   * @param {PageLink} page
   * @param {string} event
   * @param {any} data
   */
  _deliver (page, event, data) {
    if (event === EVENT_Y) {
      page.y(data)
    } else {
      // The server is about to close the connection for something a retry would only repeat (a message
      // over its size limit): remember it, so the disconnect does not start a reconnect loop.
      if (data && data.state === 'error' && FATAL_CODES.has(data.code)) this._fatal = data
      page.status(data)
    }
  }

  /** @param {ConnectionStatus} status */
  _setStatus (status) {
    if (this.status === status) return
    this.status = status
    this.emit('status', [{ status }])
  }

  _onConnect () {
    this._clearRetry()
    this._retryAttempts = 0
    this._setStatus('connected')
    for (const page of [...this.pages]) page.connected()
  }

  /** @param {string} reason */
  _onDisconnect (reason) {
    // Packets emitted in the window where the socket still looked connected but its ping had expired
    // sit in socket.io-client's send buffer and would be replayed on reconnect, before the re-join.
    const buffer = this.socket.sendBuffer
    if (Array.isArray(buffer)) {
      const kept = buffer.filter(p => !(p && Array.isArray(p.data) && OWN_EVENTS.has(p.data[0])))
      buffer.length = 0
      buffer.push(...kept)
    }
    this._setStatus('disconnected')
    for (const finish of [...this._requests]) finish(failure('offline', 'disconnected from the collaboration server'))
    this._early = []
    // A server-side disconnect is final (socket.io-client does not reconnect after it either): an admin
    // disconnected the user, or the connection broke the rules. The pages turn read-only and say why.
    if (reason === 'io server disconnect') {
      this.closed = true
      const fatal = this._fatal
      const message = fatal
        ? `disconnected by the server: ${fatal.message || fatal.code}`
        : SERVER_CLOSED_MESSAGE
      for (const page of [...this.pages]) page.disconnected(message, fatal ? 'error' : 'closed')
      this.emit('connection-error', [new Error(message)])
      return
    }
    for (const page of [...this.pages]) page.disconnected(null, 'offline')
  }

  /** @param {any} err */
  _onConnectError (err) {
    this._setStatus('disconnected')
    const detail = err && err.message ? err.message : String(err)
    const code = err && err.data && err.data.code
    if (FATAL_CODES.has(code)) { // refused for good (e.g. anonymous editing is off): say so, do not loop
      this.closed = true
      for (const page of [...this.pages]) page.disconnected(`the collaboration server refused the connection (${detail})`, 'error')
      this.emit('connection-error', [err])
      return
    }
    for (const page of [...this.pages]) page.disconnected(`cannot reach the collaboration server (${detail})`, 'offline')
    this.emit('connection-error', [err])
    // A middleware refusal leaves the socket inactive: socket.io-client will not retry by itself.
    if (this.socket.active === false) this._scheduleReconnect()
  }

  _scheduleReconnect () {
    if (this._destroyed || this.closed || this._retryTimer !== null) return
    const delay = backoffMs(this._retryAttempts++, this.reconnectDelayMs, this.reconnectDelayMaxMs)
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null
      if (!this._destroyed && !this.connected) {
        this._setStatus('connecting')
        this.socket.connect()
      }
    }, delay)
  }

  _clearRetry () {
    if (this._retryTimer !== null) clearTimeout(this._retryTimer)
    this._retryTimer = null
  }
}
