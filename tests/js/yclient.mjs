// A scripted real Yjs client for the Python tests: yjs + y-protocols + socket.io-client, driven by JSON
// lines on stdin ({"id": 1, "cmd": "join", ...}); every command answers one JSON line {"id": 1, ...} on
// stdout. Server-initiated happenings (status events) are printed as {"event": ...} lines.
import { createRequire } from 'node:module'
import readline from 'node:readline'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(path.join(here, '../../client-js/package.json'))
const Y = require('yjs')
const syncProtocol = require('y-protocols/sync')
const awarenessProtocol = require('y-protocols/awareness')
const encoding = require('lib0/encoding')
const decoding = require('lib0/decoding')
const { io } = require('socket.io-client')

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const pages = new Map() // title -> {doc, text, awareness, synced}
let socket = null
let online = true

function page (title) {
  const p = pages.get(title)
  if (!p) throw new Error(`not joined: ${title}`)
  return p
}

function send (title, bytes) {
  if (socket && socket.connected && online) socket.emit('y', title, bytes)
}

function onY (title, data) {
  const p = pages.get(title)
  if (!p) return
  const decoder = decoding.createDecoder(new Uint8Array(data))
  const type = decoding.readVarUint(decoder)
  if (type === 0) {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, 0)
    const kind = syncProtocol.readSyncMessage(decoder, encoder, p.doc, 'server')
    if (encoding.length(encoder) > 1) send(title, encoding.toUint8Array(encoder))
    if (kind === 1) p.synced = true
  } else if (type === 1) {
    awarenessProtocol.applyAwarenessUpdate(p.awareness, decoding.readVarUint8Array(decoder), 'server')
  }
}

function sendStep1 (title) {
  const p = page(title)
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0)
  syncProtocol.writeSyncStep1(encoder, p.doc)
  send(title, encoding.toUint8Array(encoder))
}

function announce (title) {
  const p = page(title)
  const state = p.awareness.getLocalState()
  if (state !== null) p.awareness.setLocalState({ ...state }) // a new clock on every (re)join
}

async function join (title) {
  const ack = await socket.timeout(20000).emitWithAck('join', title)
  if (!ack.ok) return ack
  let p = pages.get(ack.title)
  if (!p) {
    const doc = new Y.Doc()
    const awareness = new awarenessProtocol.Awareness(doc)
    p = { doc, text: doc.getText('wikitext'), awareness, synced: false }
    pages.set(ack.title, p)
    doc.on('update', (update, origin) => {
      if (origin === 'server') return
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 0)
      syncProtocol.writeUpdate(encoder, update)
      send(ack.title, encoding.toUint8Array(encoder))
    })
    awareness.on('update', ({ added, updated, removed }, origin) => {
      // Only our own state, as the reference client (page.js): the server refuses others' ids.
      const me = doc.clientID
      if (!(added.includes(me) || updated.includes(me) || removed.includes(me))) return
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, 1)
      encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(awareness, [me]))
      send(ack.title, encoding.toUint8Array(encoder))
    })
  }
  sendStep1(ack.title)
  announce(ack.title)
  return ack
}

function connect (url, cookie, auth) {
  return new Promise((resolve) => {
    const opts = { transports: ['websocket'], reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 1000 }
    if (cookie) opts.extraHeaders = { Cookie: cookie }
    if (auth) opts.auth = auth
    socket = io(url, opts)
    socket.on('y', onY)
    socket.on('status', (title, status) => out({ event: 'status', title, status }))
    socket.on('connect', async () => {
      if (!online) return
      for (const title of pages.keys()) await join(title)
      out({ event: 'connected' })
      resolve({ ok: true })
    })
    socket.on('connect_error', (err) => { out({ event: 'connect_error', message: err.message }); resolve({ ok: false, message: err.message }) })
    socket.on('disconnect', (reason) => out({ event: 'disconnect', reason }))
  })
}

const isHigh = (c) => c >= 0xd800 && c < 0xdc00
let seed = 1
function random () { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
const ALPHABET = ['a', 'b', 'c', ' ', '\n', 'é', '😀', '中', '文']

const commands = {
  connect: (c) => connect(c.url, c.cookie, c.auth),
  join: (c) => join(c.title),
  leave: async (c) => { const ack = await socket.emitWithAck('leave', c.title); pages.get(c.title)?.doc.destroy(); pages.delete(c.title); return ack },
  save: (c) => socket.timeout(60000).emitWithAck('save', c.title),
  insert: (c) => { page(c.title).text.insert(c.index, c.text); return { ok: true } },
  append: (c) => { const t = page(c.title).text; t.insert(t.length, c.text); return { ok: true } }, // atomic: no stale index
  delete: (c) => { page(c.title).text.delete(c.index, c.length); return { ok: true } },
  text: (c) => ({ text: page(c.title).text.toString(), synced: page(c.title).synced }),
  seed: (c) => { seed = c.seed; return { ok: true } },
  random_edits: (c) => {
    const t = page(c.title).text
    for (let i = 0; i < c.count; i++) {
      const len = t.length
      if (len > 0 && random() < 0.3) {
        const s = t.toString()
        let at = Math.floor(random() * len)
        let end = Math.min(len, at + 1 + Math.floor(random() * 3))
        if (at > 0 && isHigh(s.charCodeAt(at - 1))) at -= 1 // never split a surrogate pair
        if (end < len && isHigh(s.charCodeAt(end - 1))) end += 1
        t.delete(at, end - at)
      } else {
        const at = Math.floor(random() * (len + 1))
        // never split a surrogate pair (Yjs indexes UTF-16 units)
        const s = t.toString()
        const safe = at > 0 && at < s.length && isHigh(s.charCodeAt(at - 1)) ? at + 1 : at
        t.insert(safe, ALPHABET[Math.floor(random() * ALPHABET.length)])
      }
    }
    return { ok: true }
  },
  awareness: (c) => { page(c.title).awareness.setLocalState(c.state); return { ok: true } },
  me: (c) => ({ clientID: page(c.title).doc.clientID }),
  peers: (c) => {
    const p = page(c.title)
    const states = []
    p.awareness.getStates().forEach((state, id) => { if (id !== p.doc.clientID) states.push(state) })
    return { states }
  },
  offline: () => { online = false; socket.disconnect(); return { ok: true } },
  online: () => new Promise((resolve) => { online = true; socket.once('connect', () => resolve({ ok: true })); socket.connect() }),
  raw: (c) => { socket.emit('y', c.title, Buffer.from(c.hex, 'hex')); return { ok: true } },
  close: () => { socket?.close(); setTimeout(() => process.exit(0), 50); return { ok: true } }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', async (line) => {
  let cmd
  try {
    cmd = JSON.parse(line)
    const result = await commands[cmd.cmd](cmd)
    out({ id: cmd.id, ...result })
  } catch (err) {
    out({ id: cmd?.id, error: String(err && err.stack ? err.stack : err) })
  }
})
rl.on('close', () => process.exit(0))
