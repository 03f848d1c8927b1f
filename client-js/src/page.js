// @ts-check
/**
 * A Yjs provider for one wiki page over a shared {@link CollabConnection}.
 *
 * {@link PageProvider} keeps one Y.Doc (and its Awareness) in sync with one page on the server over
 * y-protocols: join -> sync step 1/2 -> live updates; offline -> nothing is queued, the re-join's step
 * 1/step 2 exchange carries the offline edits; `save()`; `destroy()` undoes everything it did. It talks
 * to the connection only through the connection's documented interface, and hears from it only through
 * the {@link import('./connection.js').PageLink} it attaches.
 *
 * Nothing here touches the DOM, so the same code runs in browsers and in Node tests.
 *
 * @module page
 */

import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { ObservableV2 } from 'lib0/observable'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'

import {
  EVENT_LEAVE, EVENT_SAVE, EVENT_STATUS, EVENT_Y,
  MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, SYNC_STEP2, TRANSIENT_ERROR_CODES
} from './protocol.js'
import { MAX_EARLY_MESSAGES, backoffMs, failure } from './connection.js'
import { userInfo } from './colors.js'

/** @typedef {import('yjs').Doc} YDoc */
/** @typedef {import('./connection.js').CollabConnection} CollabConnection */
/** @typedef {import('./connection.js').PageLink} PageLink */
/** @typedef {import('./protocol.js').ProtocolError} ProtocolError */
/** @typedef {import('./protocol.js').ServerStatus} ServerStatus */

/**
 * @typedef {'connecting'|'live'|'offline'|'saving'|'saved'|'error'|'removed'} PageState
 * `connecting` until joined and synced, `live` while in sync, `offline` while the socket is down,
 * `saving`/`saved` around a commit, `error` after a failure (join, save, server error status),
 * `removed` when the server ended the page for this connection or closed the connection (no automatic
 * re-join).
 */

/**
 * Why a page no longer syncs: the `code` of a `removed` status (`deleted`, `kicked`, `forbidden`),
 * `removed` for a `removed` status without a code, `disconnected` when the server closed the connection,
 * `refused` when it refused the connection for good, `moved` when the page was moved to a title another
 * page of the same connection has open.
 * @typedef {string} ClosedCode
 */

/**
 * @typedef {Object} PageStatus
 * @property {PageState} state
 * @property {number} unsaved local updates made since the last `saved` status
 * @property {number} unsynced local updates the server has not been sent (made offline, or after the
 *   page stopped syncing); the re-join's sync exchange sends them
 * @property {boolean} closed the page no longer syncs and will not by itself (removed by the server, or
 *   the connection closed for good): the editor must be read-only; the local text is all there is
 * @property {ClosedCode|null} closedCode why, while `closed`
 * @property {boolean} synced
 * @property {boolean} readonly
 * @property {string|null} readonlyReason
 * @property {number|null} revid the wiki revision the text is based on (last saved or merged)
 * @property {string} title the normalised title once joined
 * @property {string|null} message human-readable detail for `error`, `removed`
 * @property {ProtocolError|null} error the last error
 * @property {{revid: number|null, coauthors: string[]}|null} saved the last save
 */

/**
 * @typedef {Object} PageProviderEvents
 * @property {(status: PageStatus) => void} status every state or unsaved-count change
 * @property {(synced: boolean) => void} synced the first sync step 2 after a (re-)join arrived
 * @property {(synced: boolean) => void} sync same as `synced` (y-websocket's name)
 * @property {(status: ServerStatus) => void} server-status every `status` event the server sent for the page
 * @property {(error: ProtocolError) => void} error a join, save or message failed
 * @property {(move: {from: string, title: string}) => void} moved the wiki moved the page: {@link title}
 *   is the new title now
 */

/**
 * Whether leaving the browser page now would lose work: local changes the server was never sent, or,
 * once the page was deleted on the wiki, changes of ours that no revision holds. (Anything the server has
 * is saved by it, also after the editor was removed or disconnected: no warning for that.)
 * @param {PageStatus} st
 * @return {boolean}
 */
export const losesWorkOnUnload = (st) => st.unsynced > 0 || (st.closedCode === 'deleted' && st.unsaved > 0)

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
    this._unsynced = 0
    /** @type {ClosedCode|null} */
    this._closedCode = null
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
    /** @type {PageLink} what the connection calls: these handlers, and nothing else of this provider */
    this._link = {
      connected: () => this._onConnect(),
      disconnected: (message, state) => this._onDisconnect(message, state),
      y: (data) => this._onMessage(data),
      status: (st) => this._onServerStatus(st),
      destroy: () => this.destroy()
    }

    /**
     * @param {Uint8Array} update
     * @param {any} origin
     */
    this._onDocUpdate = (update, origin) => {
      if (origin === this) return
      this._localUpdates++
      let sent = false
      if (this.joined && !this.readonly) {
        const encoder = encoding.createEncoder()
        encoding.writeVarUint(encoder, MSG_SYNC)
        syncProtocol.writeUpdate(encoder, update)
        sent = this.connection.send(this.title, encoding.toUint8Array(encoder))
      }
      if (!sent) this._unsynced++
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
    connection.attach(this._link)
    if (connect) this.connect()
  }

  /** Local updates made since the last `saved` status (including those made while offline). */
  get unsaved () {
    return Math.max(0, this._localUpdates - this._savedUpTo)
  }

  /** Local updates the server has not been sent (see {@link PageStatus}). */
  get unsynced () {
    return this._unsynced
  }

  /** True once the page no longer syncs and will not by itself (see {@link PageStatus}). */
  get closed () {
    return this._closedCode !== null
  }

  /** @return {PageStatus} */
  get status () {
    return {
      state: this.state,
      unsaved: this.unsaved,
      unsynced: this._unsynced,
      closed: this._closedCode !== null,
      closedCode: this._closedCode,
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
    if (this._destroyed || this.connection.closed) return
    this._wantJoin = true
    this._removed = false
    this._closedCode = null
    this._join()
  }

  /**
   * Ask the server to save the page to the wiki now.
   * @param {import('./protocol.js').SaveOptions} [options] the editor's summary and "minor edit" box
   * @return {Promise<import('./protocol.js').SaveAck>} the server's ack (`revid` null when there was
   *   nothing to save), or `{ok: false, error}` with a client code (`offline`, `timeout`, `destroyed`)
   */
  save (options) {
    if (this._destroyed) return Promise.resolve(failure('destroyed', 'the editor was closed'))
    if (this._closedCode !== null) return Promise.resolve(failure('closed', this.message || 'the page no longer syncs'))
    if (!this.joined) {
      return Promise.resolve(this.connection.connected
        ? failure('notjoined', 'the page is not open yet')
        : failure('offline', 'not connected to the collaboration server'))
    }
    const mark = this._localUpdates
    this._savingMark = mark
    this._setState('saving')
    const args = options ? [this.title, options] : [this.title]
    return this.connection.request(EVENT_SAVE, args, this.connection.saveTimeoutMs).then((ack) => {
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
    this.connection.detach(this._link)
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
    const owner = this.connection.ownerOf(this.title)
    if (owner && owner !== this._link) {
      this._fail({ code: 'duplicate', message: `${this.title} is already open on this connection` })
      return
    }
    const seq = ++this._joinSeq
    this._joining = true
    this._setState('connecting')
    this.connection.join(this._link, this.title, (ack) => {
      if (seq !== this._joinSeq || this._destroyed) return // superseded by a disconnect or destroy
      this._joining = false
      if (ack.ok) this._joined(ack)
      else this._joinFailed(ack.error)
    })
  }

  /** @param {import('./protocol.js').JoinAccepted} ack */
  _joined (ack) {
    const title = typeof ack.title === 'string' && ack.title ? ack.title : this.title
    const owner = this.connection.ownerOf(title)
    if (owner && owner !== this._link) {
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
    for (const e of early) {
      if (e.event === EVENT_Y) this._onMessage(e.data)
      else this._onServerStatus(e.data)
    }
    this.connection.claim(this._link, title)
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
   * @param {'offline'|'error'|'closed'} [state] 'error' when the server refused for good, 'closed' when
   *   it closed the connection: no reconnect follows either
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
    if (state !== 'offline' && this._closedCode === null) this._closedCode = state === 'closed' ? 'disconnected' : 'refused'
    if (!this._removed) {
      this.message = message
      this._removed = state === 'closed'
      this._setState(state === 'closed' ? 'removed' : state)
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
        const sent = encoding.length(encoder) > 1 && this.connection.send(this.title, encoding.toUint8Array(encoder))
        // Our answer to the server's step 1 carries everything it lacks, offline edits included.
        if (sent && syncType === syncProtocol.messageYjsSyncStep1 && !this.readonly && this._unsynced) {
          this._unsynced = 0
          this._emitStatus()
        }
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
      case 'moved':
        this._moved(st)
        break
      case 'removed':
        this._removed = true
        this._closedCode = typeof st.code === 'string' && st.code ? st.code : 'removed'
        this.joined = false
        this.synced = false
        this._savingMark = null
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

  /**
   * The wiki moved the page: the server now speaks of it under the new title only, and this connection
   * stays joined to it. Re-key the page; the document, the sync and the editor carry on untouched.
   * @param {ServerStatus} st
   */
  _moved (st) {
    const to = typeof st.title === 'string' ? st.title : ''
    const from = this.title
    if (!to || to === from) return
    const owner = this.connection.ownerOf(to)
    if (owner && owner !== this._link) {
      // Another editor on this connection has the new title open: the server cannot tell the two apart.
      this._closedCode = 'moved'
      this._removed = true
      this.joined = false
      this.synced = false
      this.message = `this page was moved to ${to}, which is already open here; reload to continue`
      this._setState('removed')
      return
    }
    this.connection.rename(this._link, from, to)
    this.title = to
    this.requestedTitle = to
    this.emit('moved', [{ from, title: to }])
    this._emitStatus()
  }
}
