/**
 * Test doubles for the provider's unit tests: a socket.io-client-like socket and a small in-memory
 * collab server speaking the real protocol (y-protocols sync and awareness over `y` events, join/leave/
 * save acks, status events). Deliveries are asynchronous (setImmediate) and ordered, like a network.
 *
 * Kept outside test/ so that `node --test test/` does not run it as a test file.
 */

import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'

/** One turn of the event loop (lets every queued delivery run). */
export const tick = () => new Promise((resolve) => setImmediate(resolve))

/**
 * Wait until `predicate()` holds, turning the event loop; fail after `maxTurns` turns (no clocks).
 * @param {() => boolean} predicate
 * @param {string} what
 * @param {number} [maxTurns]
 */
export const until = async (predicate, what, maxTurns = 2000) => {
  for (let i = 0; i < maxTurns; i++) {
    if (predicate()) return
    await tick()
  }
  throw new Error(`gave up waiting for ${what}`)
}

/**
 * Describe a `y` message: `step1`, `step2`, `update`, `awareness` (with its entries) or `query`.
 * @param {Uint8Array} msg
 */
export const decodeMessage = (msg) => {
  const d = decoding.createDecoder(msg)
  const type = decoding.readVarUint(d)
  if (type === 0) {
    const sub = decoding.readVarUint(d)
    return { kind: ['step1', 'step2', 'update'][sub], payload: decoding.readVarUint8Array(d) }
  }
  if (type === 1) {
    const payload = decoding.readVarUint8Array(d)
    const a = decoding.createDecoder(payload)
    const entries = []
    const n = decoding.readVarUint(a)
    for (let i = 0; i < n; i++) {
      entries.push({ clientID: decoding.readVarUint(a), clock: decoding.readVarUint(a), state: JSON.parse(decoding.readVarString(a)) })
    }
    return { kind: 'awareness', payload, entries }
  }
  if (type === 3) return { kind: 'query' }
  throw new Error(`unknown message type ${type}`)
}

/** The browser hands binary event arguments over as ArrayBuffer. */
const asArrayBuffer = (/** @type {Uint8Array} */ u8) => u8.slice().buffer

/** A socket.io-client Socket stand-in: records what the client emits; the test drives connection events. */
export class FakeSocket {
  constructor () {
    this.connected = false
    this.active = true
    /** @type {any[]} */
    this.sendBuffer = []
    /** @type {Map<string, Set<Function>>} */
    this.listeners = new Map()
    /** @type {Array<{event: string, args: any[], ack: Function|null}>} */
    this.sent = []
    /** @type {FakeServer|null} */
    this.server = null
    this.connectCalls = 0
    this.disconnectCalls = 0
  }

  on (event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set())
    this.listeners.get(event).add(fn)
    return this
  }

  off (event, fn) {
    this.listeners.get(event)?.delete(fn)
    return this
  }

  /** Number of listeners across all events. */
  listenerCount () {
    let n = 0
    for (const set of this.listeners.values()) n += set.size
    return n
  }

  emit (event, ...args) {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null
    const record = { event, args, ack }
    this.sent.push(record)
    if (this.server && this.connected) this.server._receive(this, record)
    return this
  }

  connect () {
    this.connectCalls++
    return this
  }

  disconnect () {
    this.disconnectCalls++
    if (this.connected) this.drop('io client disconnect')
    return this
  }

  /** @param {string} event */
  sentEvents (event) {
    return this.sent.filter((s) => s.event === event)
  }

  /** The `y` messages sent so far, decoded, with their titles. */
  sentMessages () {
    return this.sentEvents('y').map((s) => ({ title: s.args[0], raw: s.args[1], ...decodeMessage(s.args[1]) }))
  }

  // --- driven by tests and by FakeServer ---

  _fire (event, ...args) {
    for (const fn of [...(this.listeners.get(event) || [])]) fn(...args)
  }

  /** The connection (re-)opens. */
  open () {
    this.connected = true
    this._fire('connect')
  }

  /** The connection drops. */
  drop (reason = 'transport close') {
    this.connected = false
    this.server?._drop(this)
    this._fire('disconnect', reason)
  }

  /** Deliver a server event on a later turn, if still connected then. */
  deliver (event, ...args) {
    setImmediate(() => {
      if (this.connected) this._fire(event, ...args)
    })
  }
}

/**
 * An in-memory collab server: one Y.Doc + Awareness per page, relaying between joined sockets.
 */
export class FakeServer {
  /**
   * @param {Object} [opts]
   * @param {Object<string, string>} [opts.initial] page texts by normalised title
   * @param {(title: string) => string} [opts.normalise]
   */
  constructor ({ initial = {}, normalise = (t) => (t.charAt(0).toUpperCase() + t.slice(1)).replace(/ /g, '_') } = {}) {
    this.initial = initial
    this.normalise = normalise
    /** @type {Map<string, {doc: Y.Doc, awareness: awarenessProtocol.Awareness, members: Map<FakeSocket, Set<number>>, revid: number, title: string}>} */
    this.pages = new Map()
    /** @type {{code: string, message: string}|null} the next joins fail with this */
    this.joinError = null
    this.readonly = false
    /** @type {any} answer to save; null: never answer */
    this.saveReply = { ok: true, revid: 100 }
    /** @type {any[]} titles received by the server in join events */
    this.joins = []
    /** @type {any[]} titles received by the server in save events */
    this.saves = []
    /** @type {any[]} the options (second argument, undefined when absent) of each save event */
    this.saveOptions = []
  }

  /** @param {FakeSocket} socket */
  attach (socket) {
    socket.server = this
    return socket
  }

  /** @param {string} title normalised */
  page (title) {
    let page = this.pages.get(title)
    if (!page) {
      const doc = new Y.Doc()
      doc.clientID = 1 // deterministic seed, like a real server
      if (this.initial[title]) doc.getText('wikitext').insert(0, this.initial[title])
      const awareness = new awarenessProtocol.Awareness(doc)
      awareness.setLocalState(null)
      page = { doc, awareness, members: new Map(), revid: 10, title }
      this.pages.set(title, page)
      const p = page
      doc.on('update', (update, origin) => {
        const encoder = encoding.createEncoder()
        encoding.writeVarUint(encoder, 0)
        syncProtocol.writeUpdate(encoder, update)
        const msg = encoding.toUint8Array(encoder)
        for (const member of p.members.keys()) if (member !== origin) member.deliver('y', p.title, asArrayBuffer(msg))
      })
    }
    return page
  }

  /** @param {string} title */
  text (title) {
    return this.page(title).doc.getText('wikitext').toString()
  }

  /**
   * An edit made on the server (e.g. a merged outside revision).
   * @param {string} title
   * @param {(text: Y.Text) => void} change
   */
  edit (title, change) {
    const doc = this.page(title).doc
    doc.transact(() => change(doc.getText('wikitext')), 'server')
  }

  /**
   * Send a status event to every member of a page.
   * @param {string} title
   * @param {any} status
   */
  status (title, status) {
    for (const member of this.page(title).members.keys()) member.deliver('status', title, status)
  }

  /**
   * The wiki moved a page, as the real server reports it: every member gets `moved` under the old
   * title, and from then on the page lives under the new one (same document, same members).
   * @param {string} from normalised
   * @param {string} to normalised
   */
  move (from, to) {
    const page = this.page(from)
    for (const member of page.members.keys()) {
      member.deliver('status', from, { state: 'moved', message: `the page was moved to ${to}`, title: to, from })
    }
    this.pages.delete(from)
    this.pages.set(to, page)
    // Relay further updates under the new title.
    page.title = to
  }

  /**
   * End a page for one member, as the real server does (`removed`, then no longer joined).
   * @param {string} title
   * @param {FakeSocket} socket
   * @param {Object} status extra fields, e.g. `{code: 'kicked', message}`
   */
  remove (title, socket, status = {}) {
    socket.deliver('status', title, { state: 'removed', message: 'removed', ...status })
    this._leave(socket, title)
  }

  destroy () {
    for (const page of this.pages.values()) {
      page.awareness.destroy()
      page.doc.destroy()
    }
    this.pages.clear()
  }

  // --- protocol ---

  /**
   * @param {FakeSocket} socket
   * @param {{event: string, args: any[], ack: Function|null}} record
   */
  _receive (socket, { event, args, ack }) {
    const reply = (/** @type {any} */ value) => {
      if (ack) setImmediate(() => socket.connected && ack(value))
    }
    const [rawTitle] = args
    if (event === 'join') {
      this.joins.push(rawTitle)
      if (this.joinError) return reply({ ok: false, error: this.joinError })
      const title = this.normalise(rawTitle)
      const page = this.page(title)
      if (!page.members.has(socket)) page.members.set(socket, new Set())
      // Like the real server: step 1 and the current awareness go out before the ack.
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      syncProtocol.writeSyncStep1(encoder, page.doc)
      socket.deliver('y', title, asArrayBuffer(encoding.toUint8Array(encoder)))
      const ids = [...page.awareness.getStates().keys()]
      if (ids.length) socket.deliver('y', title, asArrayBuffer(this._awarenessMessage(page, ids)))
      return reply({ ok: true, title, revid: page.revid, readonly: this.readonly })
    }
    if (event === 'leave') {
      this._leave(socket, rawTitle)
      return reply({ ok: true })
    }
    if (event === 'save') {
      this.saves.push(rawTitle)
      this.saveOptions.push(args[1])
      if (this.saveReply !== null) reply(this.saveReply)
      return
    }
    if (event === 'y') {
      const page = this.pages.get(rawTitle)
      if (!page || !page.members.has(socket)) {
        socket.deliver('status', rawTitle, { state: 'error', code: 'notjoined', message: 'not joined' })
        return
      }
      const msg = args[1]
      if (!(msg instanceof Uint8Array)) throw new Error('the client sent a y message that is not a Uint8Array')
      const m = decodeMessage(msg)
      if (m.kind === 'step1') {
        const encoder = encoding.createEncoder()
        encoding.writeVarUint(encoder, 0)
        syncProtocol.writeSyncStep2(encoder, page.doc, m.payload)
        socket.deliver('y', rawTitle, asArrayBuffer(encoding.toUint8Array(encoder)))
      } else if (m.kind === 'step2' || m.kind === 'update') {
        if (!this.readonly) Y.applyUpdate(page.doc, m.payload, socket)
      } else if (m.kind === 'awareness') {
        for (const e of m.entries) page.members.get(socket).add(e.clientID)
        awarenessProtocol.applyAwarenessUpdate(page.awareness, m.payload, socket)
        for (const member of page.members.keys()) if (member !== socket) member.deliver('y', rawTitle, asArrayBuffer(msg))
      } else if (m.kind === 'query') {
        socket.deliver('y', rawTitle, asArrayBuffer(this._awarenessMessage(page, [...page.awareness.getStates().keys()])))
      }
    }
  }

  _awarenessMessage (page, ids) {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 1)
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(page.awareness, ids))
    return encoding.toUint8Array(encoder)
  }

  /** Remove a socket from a page and its awareness states, telling the others. */
  _leave (socket, title) {
    const page = this.pages.get(title)
    const ids = page?.members.get(socket)
    if (!page || !ids) return
    page.members.delete(socket)
    const present = [...ids].filter((id) => page.awareness.getStates().has(id))
    awarenessProtocol.removeAwarenessStates(page.awareness, present, 'leave')
    if (present.length) {
      const msg = this._awarenessMessage(page, present)
      for (const member of page.members.keys()) member.deliver('y', title, asArrayBuffer(msg))
    }
  }

  _drop (socket) {
    for (const title of this.pages.keys()) this._leave(socket, title)
  }
}
