// Real Yjs clients over three transports: our Socket.IO protocol (collab), the plain y-websocket protocol
// (y-websocket server, pycrdt-websocket) and Hocuspocus's own provider. Each client edits one page in its
// own Y.Doc over its own connection; receivers report every remote update to a Tracker (latency).
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { io } from 'socket.io-client'
import { HocuspocusProvider } from '@hocuspocus/provider'
import { probeOf } from './traces.mjs'

export const LOCAL = Symbol('local') // origin of this client's own edits
const REMOTE = 'remote'

let nextUser = 0

class BaseClient {
  constructor (url, page) {
    this.url = url
    this.page = page // page name as given; `title` is what the server calls it
    this.title = page
    this.doc = new Y.Doc()
    this.text = this.doc.getText('wikitext')
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.synced = false
    this.errors = 0
    this.closed = false
    this.onRemote = null // (client) => void, called after each remote update is applied
    this.lastProbe = null
    this._syncWaiters = []
    this.doc.on('afterTransaction', (tr) => {
      if (tr.origin === LOCAL) this.lastProbe = probeOf(tr, this.doc)
    })
    this.doc.on('update', (update, origin) => {
      if (origin === LOCAL) this.sendUpdate(update)
      else if (this.onRemote) this.onRemote(this)
    })
    const n = nextUser++
    this.awareness.setLocalState({ user: { name: `bench${n}`, color: '#30bced', colorLight: '#30bced33' } })
    this.awareness.on('update', ({ added, updated, removed }, origin) => {
      if (origin !== 'local' || !this.connected) return
      this.sendAwareness(added.concat(updated, removed))
    })
    this.connected = false
  }

  /** Apply a local edit (fn gets the Y.Text); returns the probe marking it for receivers. */
  edit (fn) {
    this.lastProbe = null
    this.doc.transact(() => fn(this.text), LOCAL)
    return this.lastProbe
  }

  /** Apply a precomputed update as if typed here (it is sent like any local change). */
  applyLocal (update) {
    this.lastProbe = null
    Y.applyUpdate(this.doc, update, LOCAL)
    return this.lastProbe
  }

  markSynced () {
    this.connected = true
    if (this.synced) return
    this.synced = true
    for (const w of this._syncWaiters) w()
    this._syncWaiters = []
  }

  whenSynced () {
    return this.synced ? Promise.resolve() : new Promise((resolve) => this._syncWaiters.push(resolve))
  }

  // y-protocols framing shared by the collab and y-websocket transports
  handleMessage (u8) {
    const decoder = decoding.createDecoder(u8)
    const type = decoding.readVarUint(decoder)
    if (type === 0) {
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      const kind = syncProtocol.readSyncMessage(decoder, encoder, this.doc, REMOTE)
      if (encoding.length(encoder) > 1) this.sendRaw(encoding.toUint8Array(encoder))
      if (kind === syncProtocol.messageYjsSyncStep2) this.markSynced()
    } else if (type === 1) {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), REMOTE)
    } else if (type === 3) {
      this.sendAwareness(Array.from(this.awareness.getStates().keys()))
    }
  }

  sendStep1 () {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 0)
    syncProtocol.writeSyncStep1(encoder, this.doc)
    this.sendRaw(encoding.toUint8Array(encoder))
  }

  sendUpdate (update) {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 0)
    syncProtocol.writeUpdate(encoder, update)
    this.sendRaw(encoding.toUint8Array(encoder))
  }

  sendAwareness (ids) {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 1)
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids))
    this.sendRaw(encoding.toUint8Array(encoder))
  }

  destroy () {
    this.closed = true
    this.awareness.destroy()
    this.doc.destroy()
  }
}

/** Our protocol: Socket.IO, event `y` (title, bytes), `join` with an ack. */
export class CollabClient extends BaseClient {
  connect () {
    return new Promise((resolve, reject) => {
      this.socket = io(this.url, { transports: ['websocket'], forceNew: true, reconnection: false })
      this.socket.on('y', (title, data) => { if (title === this.title) this.handleMessage(new Uint8Array(data)) })
      this.socket.on('status', (title, status) => {
        if (!status || status.state !== 'error') return
        if (this.errors++ < 3) process.stderr.write(`[client ${this.page}] server says: ${JSON.stringify(status)}\n`)
      })
      this.socket.on('disconnect', () => { if (!this.closed) this.errors++ })
      this.socket.on('connect_error', (err) => { this.errors++; reject(err) })
      this.socket.on('connect', async () => {
        try {
          const ack = await this.socket.timeout(60000).emitWithAck('join', this.page)
          if (!ack.ok) throw new Error(`join refused: ${JSON.stringify(ack.error)}`)
          this.title = ack.title
          this.sendStep1()
          this.sendAwareness([this.doc.clientID])
          await this.whenSynced()
          resolve(this)
        } catch (err) {
          reject(err)
        }
      })
    })
  }

  sendRaw (u8) { this.socket.emit('y', this.title, u8) }

  save () { return this.socket.timeout(600000).emitWithAck('save', this.title) }

  close () { this.closed = true; this.socket?.close(); this.destroy() }
}

/** The y-websocket protocol: one WebSocket per document, the document name is the URL path. */
export class YwsClient extends BaseClient {
  connect () {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(`${this.url}/${this.page}`)
      this.ws.binaryType = 'arraybuffer'
      this.ws.on('message', (data) => this.handleMessage(new Uint8Array(data)))
      this.ws.on('error', (err) => { this.errors++; reject(err) })
      this.ws.on('close', () => { if (!this.closed) this.errors++ })
      this.ws.on('open', async () => {
        this.sendStep1()
        this.sendAwareness([this.doc.clientID])
        await this.whenSynced()
        resolve(this)
      })
    })
  }

  sendRaw (u8) { this.ws.send(u8) }

  close () { this.closed = true; this.ws?.close(); this.destroy() }
}

/** Hocuspocus, through its own provider (it frames, syncs and sends updates itself). */
export class HocusClient extends BaseClient {
  connect () {
    return new Promise((resolve, reject) => {
      this.provider = new HocuspocusProvider({
        url: this.url,
        name: this.page,
        document: this.doc,
        awareness: this.awareness,
        WebSocketPolyfill: WebSocket,
        onSynced: () => { this.markSynced(); resolve(this) },
        onClose: () => { if (!this.closed) this.errors++ },
        onAuthenticationFailed: () => { this.errors++; reject(new Error('authentication failed')) }
      })
    })
  }

  sendUpdate () {} // the provider sends the document's updates
  sendAwareness () {}
  sendRaw () {}

  close () { this.closed = true; this.provider?.destroy(); this.destroy() }
}

export function makeClient (transport, url, page) {
  if (transport === 'collab') return new CollabClient(url, page)
  if (transport === 'yws') return new YwsClient(url, page)
  if (transport === 'hocus') return new HocusClient(url, page)
  throw new Error(`unknown transport ${transport}`)
}
