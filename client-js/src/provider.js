/**
 * A Yjs provider over one Socket.IO connection that multiplexes many wiki pages.
 *
 * - {@link CollabConnection} owns the socket.io-client socket: reconnection with capped exponential
 *   backoff, request/ack with timeouts, routing of `y` and `status` events to the page providers.
 * - {@link PageProvider} keeps one Y.Doc (and its Awareness) in sync with one page on the server:
 *   join -> sync step 1/2 -> live updates; offline -> nothing is queued, the re-join's step 1/step 2
 *   exchange carries the offline edits; `save()`; `destroy()` undoes everything it did.
 *
 * Nothing here touches the DOM, so the same code runs in browsers and in Node tests.
 *
 * @module provider
 */

import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ObservableV2 } from 'lib0/observable'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import { io } from 'socket.io-client'

import {
  EVENT_JOIN, EVENT_LEAVE, EVENT_SAVE, EVENT_STATUS, EVENT_Y,
  MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, SYNC_STEP2, TRANSIENT_ERROR_CODES
} from './protocol.js'
import { userInfo } from './colors.js'

/** @typedef {import('yjs').Doc} YDoc */
/** @typedef {import('./protocol.js').ProtocolError} ProtocolError */
/** @typedef {import('./protocol.js').ServerStatus} ServerStatus */

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

/**
 * @typedef {'connecting'|'live'|'offline'|'saving'|'saved'|'error'|'removed'} PageState
 * `connecting` until joined and synced, `live` while in sync, `offline` while the socket is down,
 * `saving`/`saved` around a commit, `error` after a failure (join, save, server error status),
 * `removed` when the server ended the page for this connection (no automatic re-join).
 */

/**
 * @typedef {Object} PageStatus
 * @property {PageState} state
 * @property {number} unsaved local updates made since the last `saved` status
 * @property {boolean} synced
 * @property {boolean} readonly
 * @property {string|null} readonlyReason
 * @property {number|null} revid the wiki revision the text is based on (last saved or merged)
 * @property {string} title the normalised title once joined
 * @property {string|null} message human-readable detail for `error`, `removed`
 * @property {ProtocolError|null} error the last error
 * @property {{revid: number|null, coauthors: string[]}|null} saved the last save
 */

/** Sent packets of these events are dropped from socket.io-client's buffer on disconnect. */
const OWN_EVENTS = new Set([EVENT_JOIN, EVENT_LEAVE, EVENT_SAVE, EVENT_Y])
/** Error codes after which retrying would only repeat the refusal: no automatic reconnect. */
const FATAL_CODES = new Set(['toolarge', 'forbidden'])
/** Messages kept for a title that is not routable yet (a join ack is pending); beyond that, dropped. */
const MAX_EARLY_MESSAGES = 1000

/**
 * @param {string} code
 * @param {string} message
 * @return {{ok: false, error: ProtocolError}}
 */
const failure = (code, message) => ({ ok: false, error: { code, message } })

/**
 * Capped exponential backoff with jitter in [delay/2, delay].
 * @param {number} attempt 0 for the first retry
 * @param {number} baseMs
 * @param {number} maxMs
 */
const backoffMs = (attempt, baseMs, maxMs) => {
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
 * One Socket.IO connection to the collab server, shared by any number of {@link PageProvider}s.
 *
 * Emits `status` (`{status}`) when the connection status changes and `connection-error` (`Error`)
 * when connecting fails. socket.io-client reconnects by itself after network failures; after the server
 * closed the connection (or refused it in a middleware) this class reconnects with its own capped backoff.
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
    /** @type {Set<PageProvider>} */
    this.providers = new Set()
    /** @type {Map<string, PageProvider>} title (as requested and as normalised) -> provider */
    this._byTitle = new Map()
    /** @type {Array<{title: string, event: string, data: any}>} events for titles not routable yet */
    this._early = []
    this._pendingJoins = 0
    /** @type {Set<(ack: any) => void>} */
    this._requests = new Set()
    /** @type {ReturnType<typeof setTimeout>|null} */
    this._retryTimer = null
    this._retryAttempts = 0
    this._destroyed = false
    if (socket) {
      this.socket = socket
    } else {
      const { origin, path } = socketTarget(url)
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
      [EVENT_Y, (/** @type {any} */ title, /** @type {any} */ msg) => this._route(title, EVENT_Y, msg)],
      [EVENT_STATUS, (/** @type {any} */ title, /** @type {any} */ st) => this._route(title, EVENT_STATUS, st)]
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
   * Destroy every provider, close the socket and remove every listener.
   */
  destroy () {
    if (this._destroyed) return
    for (const p of [...this.providers]) p.destroy()
    this._destroyed = true
    this._clearRetry()
    for (const finish of [...this._requests]) finish(failure('destroyed', 'the connection was closed'))
    for (const [event, fn] of this._handlers) this.socket.off(event, fn)
    this.socket.disconnect()
    this._setStatus('disconnected')
    super.destroy()
  }

  // --- used by PageProvider -------------------------------------------------------------------------

  /** @param {PageProvider} provider */
  _add (provider) {
    this.providers.add(provider)
  }

  /** @param {PageProvider} provider */
  _remove (provider) {
    this.providers.delete(provider)
    for (const [title, p] of [...this._byTitle]) if (p === provider) this._byTitle.delete(title)
  }

  /**
   * Route `title` to `provider`, then deliver what arrived for it before it was routable.
   * The caller checked that no other provider has this title.
   * @param {PageProvider} provider
   * @param {string} title
   */
  _claim (provider, title) {
    this._byTitle.set(title, provider)
    if (this._early.length) {
      const mine = this._early.filter(e => e.title === title)
      this._early = this._early.filter(e => e.title !== title)
      for (const e of mine) this._deliver(provider, e.event, e.data)
    }
  }

  /**
   * A join request is going out: events for unknown titles are kept until its ack tells the
   * normalised title (the server may send its sync step 1 before the ack).
   */
  _joinStarted () {
    this._pendingJoins++
  }

  _joinSettled () {
    this._pendingJoins = Math.max(0, this._pendingJoins - 1)
    if (this._pendingJoins === 0) this._early = []
  }

  // --- socket events --------------------------------------------------------------------------------

  /**
   * @param {any} title
   * @param {string} event
   * @param {any} data
   */
  _route (title, event, data) {
    if (typeof title !== 'string') return
    const provider = this._byTitle.get(title)
    if (provider) {
      this._deliver(provider, event, data)
    } else if (this._pendingJoins > 0 && this._early.length < MAX_EARLY_MESSAGES) {
      this._early.push({ title, event, data })
    }
  }

  /**
   * @param {PageProvider} provider
   * @param {string} event
   * @param {any} data
   */
  _deliver (provider, event, data) {
    if (event === EVENT_Y) provider._onMessage(data)
    else {
      // The server is about to close the connection for something a retry would only repeat (a message
      // over its size limit): remember it, so the disconnect does not start a reconnect loop.
      if (data && data.state === 'error' && FATAL_CODES.has(data.code)) this._fatal = data
      provider._onServerStatus(data)
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
    for (const p of [...this.providers]) p._onConnect()
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
    for (const p of [...this.providers]) p._onDisconnect()
    for (const finish of [...this._requests]) finish(failure('offline', 'disconnected from the collaboration server'))
    this._early = []
    // socket.io-client does not reconnect after the server closed the connection.
    if (reason === 'io server disconnect') {
      if (this._fatal) {
        const message = `disconnected by the server: ${this._fatal.message || this._fatal.code}; reload to retry`
        for (const p of [...this.providers]) p._onDisconnect(message, 'error')
        this.emit('connection-error', [new Error(message)])
        return
      }
      this._scheduleReconnect()
    }
  }

  /** @param {any} err */
  _onConnectError (err) {
    this._setStatus('disconnected')
    const detail = err && err.message ? err.message : String(err)
    const code = err && err.data && err.data.code
    if (FATAL_CODES.has(code)) { // refused for good (e.g. anonymous editing is off): say so, do not loop
      for (const p of [...this.providers]) p._onDisconnect(`the collaboration server refused the connection (${detail})`, 'error')
      this.emit('connection-error', [err])
      return
    }
    for (const p of [...this.providers]) p._onDisconnect(`cannot reach the collaboration server (${detail})`)
    this.emit('connection-error', [err])
    // A middleware refusal leaves the socket inactive: socket.io-client will not retry by itself.
    if (this.socket.active === false) this._scheduleReconnect()
  }

  _scheduleReconnect () {
    if (this._destroyed || this._retryTimer !== null) return
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

/**
 * @typedef {Object} PageProviderEvents
 * @property {(status: PageStatus) => void} status every state or unsaved-count change
 * @property {(synced: boolean) => void} synced the first sync step 2 after a (re-)join arrived
 * @property {(synced: boolean) => void} sync same as `synced` (y-websocket's name)
 * @property {(status: ServerStatus) => void} server-status every `status` event the server sent for the page
 * @property {(error: ProtocolError) => void} error a join, save or message failed
 */

/**
 * Keeps one Y.Doc in sync with one page over a shared {@link CollabConnection}.
 *
 * @extends {ObservableV2<PageProviderEvents>}
 */
export class PageProvider extends ObservableV2 {
  /**
   * @param {CollabConnection} connection
   * @param {string} title the page title as the user gave it; {@link title} becomes the server's
   *   normalised title after the join
   * @param {YDoc} ydoc the page text is `ydoc.getText('wikitext')`; start with an empty doc: the
   *   server's copy is the truth, never seed text on the client
   * @param {Object} [opts]
   * @param {awarenessProtocol.Awareness} [opts.awareness] created (and destroyed) here when not given
   * @param {{name?: string, color?: string, colorLight?: string}} [opts.user] sets the awareness `user`
   *   field; colours default to ones derived from the name
   * @param {boolean} [opts.connect] join now (default true); otherwise call {@link connect}
   */
  constructor (connection, title, ydoc, { awareness, user, connect = true } = {}) {
    super()
    this.connection = connection
    this.requestedTitle = title
    /** The normalised title after a successful join (until then, the requested one). */
    this.title = title
    this.doc = ydoc
    this._ownsAwareness = !awareness
    this.awareness = awareness || new awarenessProtocol.Awareness(ydoc)
    if (user) this.awareness.setLocalStateField('user', userInfo(user))
    this.joined = false
    this.synced = false
    this.readonly = false
    /** @type {string|null} */
    this.readonlyReason = null
    /** @type {number|null} */
    this.revid = null
    /** @type {PageState} */
    this.state = 'connecting'
    /** @type {string|null} */
    this.message = null
    /** @type {ProtocolError|null} */
    this.lastError = null
    /** @type {{revid: number|null, coauthors: string[]}|null} */
    this.lastSaved = null
    this._localUpdates = 0
    this._savedUpTo = 0
    /** @type {number|null} local update count when the current save started */
    this._savingMark = null
    this._joinSeq = 0
    this._joining = false
    /** @type {Array<{event: string, data: any}>} events that arrived before the join ack */
    this._early = []
    this._wantJoin = false
    this._removed = false
    this._destroyed = false
    /** @type {ReturnType<typeof setTimeout>|null} */
    this._retryTimer = null
    this._retryAttempts = 0

    /**
     * @param {Uint8Array} update
     * @param {any} origin
     */
    this._onDocUpdate = (update, origin) => {
      if (origin === this) return
      this._localUpdates++
      if (this.joined && !this.readonly) {
        const encoder = encoding.createEncoder()
        encoding.writeVarUint(encoder, MSG_SYNC)
        syncProtocol.writeUpdate(encoder, update)
        this.connection.send(this.title, encoding.toUint8Array(encoder))
      }
      // A new edit ends "saved"; it also ends "error": if the failure persists, the server says so again.
      if ((this.state === 'saved' || this.state === 'error') && this.synced) this.state = 'live'
      this._emitStatus()
    }

    /**
     * Only our own state is ever sent; the server relays the others. A change to our own id with
     * origin === this is Yjs refusing a remote removal of our state (it bumped the clock): announce it.
     * @param {{added: number[], updated: number[], removed: number[]}} changes
     * @param {any} _origin
     */
    this._onAwarenessUpdate = ({ added, updated, removed }, _origin) => {
      const me = this.awareness.clientID
      if (!this.joined || !(added.includes(me) || updated.includes(me) || removed.includes(me))) return
      this._sendAwareness()
    }

    ydoc.on('update', this._onDocUpdate)
    this.awareness.on('update', this._onAwarenessUpdate)
    connection._add(this)
    if (connect) this.connect()
  }

  /** Local updates made since the last `saved` status (including those made while offline). */
  get unsaved () {
    return Math.max(0, this._localUpdates - this._savedUpTo)
  }

  /** @return {PageStatus} */
  get status () {
    return {
      state: this.state,
      unsaved: this.unsaved,
      synced: this.synced,
      readonly: this.readonly,
      readonlyReason: this.readonlyReason,
      revid: this.revid,
      title: this.title,
      message: this.message,
      error: this.lastError,
      saved: this.lastSaved
    }
  }

  /**
   * Join the page (again): also after a `removed` status. Joins happen by themselves on construction
   * (unless `connect: false`) and on every reconnection.
   */
  connect () {
    if (this._destroyed) return
    this._wantJoin = true
    this._removed = false
    this._join()
  }

  /**
   * Ask the server to save the page to the wiki now.
   * @return {Promise<import('./protocol.js').SaveAck>} the server's ack (`revid` null when there was
   *   nothing to save), or `{ok: false, error}` with a client code (`offline`, `timeout`, `destroyed`)
   */
  save () {
    if (this._destroyed) return Promise.resolve(failure('destroyed', 'the editor was closed'))
    if (!this.joined) {
      return Promise.resolve(this.connection.connected
        ? failure('notjoined', 'the page is not open yet')
        : failure('offline', 'not connected to the collaboration server'))
    }
    const mark = this._localUpdates
    this._savingMark = mark
    this._setState('saving')
    return this.connection.request(EVENT_SAVE, [this.title], this.connection.saveTimeoutMs).then((ack) => {
      if (this._destroyed) return ack
      if (ack.ok) {
        if (typeof ack.revid === 'number') this.revid = ack.revid
        this._savedUpTo = Math.max(this._savedUpTo, mark)
        if (this._savingMark === mark) this._savingMark = null
        if (this.state === 'saving') {
          if (typeof ack.revid === 'number' || this.revid !== null) {
            this.lastSaved = { revid: this.revid, coauthors: this.lastSaved?.coauthors || [] }
            this._setState('saved')
          } else {
            this._setState('live')
          }
        } else {
          this._emitStatus()
        }
      } else if (ack.error.code !== 'offline') {
        this._fail(ack.error)
      }
      return ack
    })
  }

  /**
   * Leave the page, stop every observer and listener this provider added, clear our presence
   * (locally and, while joined, on the server). The Y.Doc is left alone; an Awareness created here is
   * destroyed.
   */
  destroy () {
    if (this._destroyed) return
    const wasJoined = this.joined
    this._wantJoin = false
    this._clearRetry()
    // While still joined, the awareness handler tells the page that we are gone.
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.awareness.clientID], 'destroy')
    if (wasJoined) this.connection.request(EVENT_LEAVE, [this.title], this.connection.joinTimeoutMs)
    this._destroyed = true
    this._joinSeq++
    this.joined = false
    this._joining = false
    this._early = []
    this.doc.off('update', this._onDocUpdate)
    this.awareness.off('update', this._onAwarenessUpdate)
    this._forgetOthers()
    if (this._ownsAwareness) this.awareness.destroy()
    this.connection._remove(this)
    super.destroy()
  }

  // --- internals ------------------------------------------------------------------------------------

  _join () {
    if (this._destroyed || !this._wantJoin || this._removed) return
    this._clearRetry()
    this.joined = false
    this.synced = false
    this._early = []
    if (!this.connection.connected) {
      this._joining = false
      this._setState(this.connection.status === 'connecting' ? 'connecting' : 'offline')
      return
    }
    const owner = this.connection._byTitle.get(this.title)
    if (owner && owner !== this) {
      this._fail({ code: 'duplicate', message: `${this.title} is already open on this connection` })
      return
    }
    this.connection._byTitle.set(this.title, this)
    const seq = ++this._joinSeq
    this._joining = true
    this._setState('connecting')
    this.connection._joinStarted()
    this.connection.request(EVENT_JOIN, [this.title], this.connection.joinTimeoutMs).then((ack) => {
      try {
        if (seq !== this._joinSeq || this._destroyed) return // superseded by a disconnect or destroy
        this._joining = false
        if (ack.ok) this._joined(ack)
        else this._joinFailed(ack.error)
      } finally {
        // Only now: _joined() replays the events kept for the normalised title until this point.
        this.connection._joinSettled()
      }
    })
  }

  /** @param {import('./protocol.js').JoinAck} ack */
  _joined (ack) {
    const title = typeof ack.title === 'string' && ack.title ? ack.title : this.title
    const owner = this.connection._byTitle.get(title)
    if (owner && owner !== this) {
      this._early = []
      this._fail({ code: 'duplicate', message: `${title} is already open on this connection` })
      return
    }
    this.title = title
    this.joined = true
    this.revid = typeof ack.revid === 'number' ? ack.revid : this.revid
    this.readonly = ack.readonly === true
    this.readonlyReason = this.readonly ? this.readonlyReason : null
    this._retryAttempts = 0
    this.lastError = null
    this.message = null
    // Deliver what arrived before the ack: under the requested title (kept here) and under the
    // normalised one (kept by the connection until it could route it).
    const early = this._early
    this._early = []
    for (const e of early) this.connection._deliver(this, e.event, e.data)
    this.connection._claim(this, title)
    // Our step 1 makes the server send what we lack; its step 1 (answered in _onMessage) gets it our
    // offline edits. Then announce ourselves with a new clock: the server forgot our state when we left.
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MSG_SYNC)
    syncProtocol.writeSyncStep1(encoder, this.doc)
    this.connection.send(this.title, encoding.toUint8Array(encoder))
    const local = this.awareness.getLocalState()
    if (local !== null) this.awareness.setLocalState({ ...local })
    this._emitStatus()
  }

  /** @param {ProtocolError} error */
  _joinFailed (error) {
    if (error.code === 'offline') return // the disconnect handler already set the state
    this._fail(error)
    if (TRANSIENT_ERROR_CODES.includes(error.code)) {
      const delay = backoffMs(this._retryAttempts++, 1000, 30000)
      this._retryTimer = setTimeout(() => {
        this._retryTimer = null
        this._join()
      }, delay)
    }
  }

  /** @param {ProtocolError} error */
  _fail (error) {
    this.lastError = error
    this.message = error.message
    this._savingMark = null
    this._setState('error')
    this.emit('error', [error])
  }

  _clearRetry () {
    if (this._retryTimer !== null) clearTimeout(this._retryTimer)
    this._retryTimer = null
  }

  _sendAwareness () {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MSG_AWARENESS)
    encoding.writeVarUint8Array(encoder,
      awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.awareness.clientID]))
    this.connection.send(this.title, encoding.toUint8Array(encoder))
  }

  /** Drop the remote participants: nobody tells us about them any more. The server re-sends on join. */
  _forgetOthers () {
    const others = [...this.awareness.getStates().keys()].filter(id => id !== this.awareness.clientID)
    if (others.length) awarenessProtocol.removeAwarenessStates(this.awareness, others, this)
  }

  /** @param {PageState} state */
  _setState (state) {
    this.state = state
    this._emitStatus()
  }

  _emitStatus () {
    this.emit('status', [this.status])
  }

  _onConnect () {
    if (this._wantJoin && !this._removed) this._join()
  }

  /**
   * @param {string|null} [message] why, when known (a failed connection attempt)
   * @param {'offline'|'error'} [state] 'error' when the server refused for good (no reconnect follows)
   */
  _onDisconnect (message = null, state = 'offline') {
    if (this._destroyed) return
    this._joinSeq++ // a join ack still in flight belongs to the old session
    this._joining = false
    this.joined = false
    this.synced = false
    this._early = []
    this._clearRetry()
    this._savingMark = null
    this._forgetOthers()
    if (!this._removed) {
      this.message = message
      this._setState(state)
    }
  }

  /**
   * One `y` message from the server.
   * @param {any} data ArrayBuffer in browsers, Buffer in Node
   */
  _onMessage (data) {
    if (this._destroyed) return
    if (!this.joined) {
      // The server may send its step 1 and awareness before the join ack.
      if (this._joining && this._early.length < MAX_EARLY_MESSAGES) this._early.push({ event: EVENT_Y, data })
      return
    }
    const buf = data instanceof Uint8Array ? data : data instanceof ArrayBuffer ? new Uint8Array(data) : null
    if (buf === null) {
      this.emit('error', [{ code: 'badmessage', message: 'the server sent a y message that is not binary' }])
      return
    }
    try {
      const decoder = decoding.createDecoder(buf)
      const type = decoding.readVarUint(decoder)
      if (type === MSG_SYNC) {
        const encoder = encoding.createEncoder()
        encoding.writeVarUint(encoder, MSG_SYNC)
        const syncType = syncProtocol.readSyncMessage(decoder, encoder, this.doc, this, (err) => {
          this.emit('error', [{ code: 'internal', message: `applying an update failed: ${err.message}` }])
        })
        if (encoding.length(encoder) > 1) this.connection.send(this.title, encoding.toUint8Array(encoder))
        if (syncType === SYNC_STEP2 && !this.synced) {
          this.synced = true
          if (this.state === 'connecting') this.state = 'live'
          this.emit('synced', [true])
          this.emit('sync', [true])
          this._emitStatus()
        }
      } else if (type === MSG_AWARENESS) {
        awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this)
      } else if (type === MSG_QUERY_AWARENESS) {
        this._sendAwareness()
      } else {
        throw new Error(`unknown message type ${type}`)
      }
    } catch (err) {
      this.emit('error', [{ code: 'badmessage', message: `bad y message from the server: ${/** @type {Error} */ (err).message}` }])
    }
  }

  /**
   * One `status` event from the server.
   * @param {any} st
   */
  _onServerStatus (st) {
    if (this._destroyed || st === null || typeof st !== 'object' || typeof st.state !== 'string') return
    if (!this.joined) {
      if (this._joining && this._early.length < MAX_EARLY_MESSAGES) this._early.push({ event: EVENT_STATUS, data: st })
      return
    }
    this.emit('server-status', [st])
    switch (st.state) {
      case 'live':
        if (st.readonly === false) {
          this.readonly = false
          this.readonlyReason = null
        }
        if (this.synced && (this.state === 'error' || this.state === 'connecting')) this.state = 'live'
        this._emitStatus()
        break
      case 'saving':
        this._savingMark = this._localUpdates
        this._setState('saving')
        break
      case 'saved': {
        this._savedUpTo = Math.max(this._savedUpTo, this._savingMark ?? this._localUpdates)
        this._savingMark = null
        if (typeof st.revid === 'number') this.revid = st.revid
        this.lastSaved = { revid: this.revid, coauthors: Array.isArray(st.coauthors) ? st.coauthors : [] }
        this.lastError = null
        this.message = null
        this._setState('saved')
        break
      }
      case 'merged':
        if (typeof st.revid === 'number') this.revid = st.revid
        this._emitStatus()
        break
      case 'readonly':
        this.readonly = true
        this.readonlyReason = typeof st.message === 'string' ? st.message : null
        this._emitStatus()
        break
      case 'removed':
        this._removed = true
        this.joined = false
        this.synced = false
        this._forgetOthers()
        this.message = st.message || st.reason || 'the server closed this page'
        this._setState('removed')
        break
      case 'error':
        this._fail({ code: typeof st.code === 'string' ? st.code : 'internal', message: st.message || 'error' })
        break
      default:
        break // a newer server's state: passed on as server-status only
    }
  }
}
