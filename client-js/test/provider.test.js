// Unit tests of the provider's state machine against an in-memory server (testing/fake.js): no network.
import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'

import { CollabConnection, socketTarget } from '../src/connection.js'
import { PageProvider } from '../src/page.js'
import { FakeServer, FakeSocket, tick, until } from '../testing/fake.js'

/**
 * A server, a socket attached to it, a connection over the socket; everything is destroyed after the test.
 * @param {import('node:test').TestContext} t
 * @param {ConstructorParameters<typeof FakeServer>[0]} [serverOpts]
 * @param {Object} [connOpts]
 */
const setup = (t, serverOpts, connOpts = {}) => {
  const server = new FakeServer(serverOpts)
  const socket = server.attach(new FakeSocket())
  const connection = new CollabConnection('http://collab.test', { socket, ...connOpts })
  /** @type {Y.Doc[]} */
  const docs = []
  /**
   * @param {string} title
   * @param {Object} [opts]
   */
  const open = (title, opts = {}) => {
    const doc = new Y.Doc()
    docs.push(doc)
    return new PageProvider(connection, title, doc, { user: { name: 'Alice' }, ...opts })
  }
  t.after(() => {
    connection.destroy()
    for (const d of docs) d.destroy()
    server.destroy()
  })
  return { server, socket, connection, open }
}

/** @param {PageProvider} p */
const text = (p) => p.doc.getText('wikitext').toString()

/** @param {PageProvider} p */
const live = (p) => until(() => p.state === 'live', `${p.title} to be live`)

test('joining makes the page live with the server text, under the normalised title', async (t) => {
  const { server, socket, open } = setup(t, { initial: { Main_page: 'Hello' } })
  const p = open('main page')
  const states = []
  p.on('status', (s) => states.push(s.state))
  let synced = 0
  p.on('synced', () => synced++)
  assert.equal(p.state, 'connecting')

  socket.open()
  await live(p)

  assert.equal(p.title, 'Main_page')
  assert.equal(text(p), 'Hello')
  assert.equal(synced, 1)
  assert.equal(p.revid, 10)
  assert.equal(states.at(-1), 'live')
  assert.deepEqual(server.joins, ['main page'])
  const messages = socket.sentMessages()
  assert.ok(messages.every((m) => m.title === 'Main_page'), 'every y message uses the normalised title')
  assert.ok(messages.every((m) => m.raw instanceof Uint8Array), 'y messages are binary')
  // The server's step 1 came before the ack, under a title the client did not know yet: still answered.
  assert.ok(messages.some((m) => m.kind === 'step2'), 'the server step 1 was answered')
  assert.ok(messages.some((m) => m.kind === 'step1'), 'the client sent its own step 1')
  assert.equal(server.page('Main_page').awareness.getStates().get(p.doc.clientID).user.name, 'Alice')
})

test('the user field gets colours derived from the name, the same for the same name', (t) => {
  const { open } = setup(t)
  const a = open('A', { connect: false })
  const b = open('B', { connect: false, user: { name: 'Alice' } })
  const user = a.awareness.getLocalState().user
  assert.match(user.color, /^#[0-9a-f]{6}$/)
  assert.match(user.colorLight, /^#[0-9a-f]{6}$/)
  assert.deepEqual(b.awareness.getLocalState().user, user)
})

test('local edits go out as sync updates and count as unsaved until the server reports saved', async (t) => {
  const { server, socket, open } = setup(t, { initial: { Page: 'Hello' } })
  const p = open('Page')
  socket.open()
  await live(p)

  p.doc.getText('wikitext').insert(5, ' world')
  assert.equal(p.unsaved, 1)
  assert.equal(socket.sentMessages().at(-1).kind, 'update')
  await until(() => server.text('Page') === 'Hello world', 'the server to get the edit')

  server.status('Page', { state: 'saving' })
  await until(() => p.state === 'saving', 'saving')
  p.doc.getText('wikitext').insert(11, '!') // made after the save started: stays unsaved
  const serverStatuses = []
  p.on('server-status', (s) => serverStatuses.push(s))
  server.status('Page', { state: 'saved', revid: 11, coauthors: ['Alice'] })
  await until(() => p.state === 'saved', 'saved')

  assert.equal(p.revid, 11)
  assert.equal(p.unsaved, 1)
  assert.deepEqual(p.status.saved, { revid: 11, coauthors: ['Alice'] })
  assert.deepEqual(serverStatuses, [{ state: 'saved', revid: 11, coauthors: ['Alice'] }])

  p.doc.getText('wikitext').insert(0, '>')
  assert.equal(p.state, 'live', 'a new local edit ends the saved state')
  assert.equal(p.unsaved, 2)
})

test('while offline nothing is sent or buffered and the unsaved count grows', async (t) => {
  const { socket, open, connection } = setup(t, { initial: { Page: 'Hello' } })
  const p = open('Page')
  socket.open()
  await live(p)
  const bob = new Awareness(new Y.Doc())
  bob.setLocalStateField('user', { name: 'Bob' })
  // Bob's presence arrives like any remote awareness update.
  const { encodeAwarenessUpdate } = await import('y-protocols/awareness')
  const encoder = [1, ...encodeLength(encodeAwarenessUpdate(bob, [bob.clientID]))]
  socket.deliver('y', 'Page', new Uint8Array(encoder).buffer)
  await until(() => p.awareness.getStates().has(bob.clientID), 'Bob to appear')
  bob.destroy()

  // A packet socket.io-client buffered while its ping had expired, plus someone else's packet.
  socket.sendBuffer.push({ data: ['y', 'Page', new Uint8Array([0, 2, 0])] }, { data: ['other-event'] })
  const statuses = []
  p.on('status', (s) => statuses.push({ state: s.state, unsaved: s.unsaved }))
  socket.drop()

  assert.equal(connection.status, 'disconnected')
  assert.equal(p.state, 'offline')
  assert.deepEqual(socket.sendBuffer, [{ data: ['other-event'] }], 'our buffered packets are dropped')
  assert.ok(!p.awareness.getStates().has(bob.clientID), 'remote participants are forgotten while offline')
  const sentBefore = socket.sent.length
  p.doc.getText('wikitext').insert(0, 'A')
  p.doc.getText('wikitext').insert(0, 'B')
  assert.equal(socket.sent.length, sentBefore, 'nothing is emitted while offline')
  assert.deepEqual(statuses.at(-1), { state: 'offline', unsaved: 2 })
})

/**
 * lib0 varuint length prefix + bytes.
 * @param {Uint8Array} bytes
 */
function encodeLength (bytes) {
  const out = []
  let n = bytes.length
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f))
    n >>>= 7
  }
  out.push(n)
  return [...out, ...bytes]
}

test('reconnecting re-joins, sends step 1, re-announces presence with a new clock and delivers offline edits', async (t) => {
  const { server, socket, open } = setup(t, { initial: { Page: 'Hello' } })
  const p = open('page')
  socket.open()
  await live(p)
  const me = p.doc.clientID
  const clockBefore = p.awareness.meta.get(me).clock

  socket.drop()
  assert.ok(!server.page('Page').awareness.getStates().has(me), 'the server forgot our presence')
  p.doc.getText('wikitext').insert(5, ', offline')
  server.edit('Page', (text) => text.insert(0, 'Server: '))
  const sentBefore = socket.sent.length

  socket.open()
  await live(p)
  await until(() => server.text('Page') === text(p), 'client and server to converge')

  assert.equal(text(p), 'Server: Hello, offline')
  const after = socket.sent.slice(sentBefore)
  assert.equal(after[0].event, 'join')
  assert.equal(after[0].args[0], 'Page', 'the re-join uses the normalised title')
  const messages = socket.sentMessages().slice(-after.filter((s) => s.event === 'y').length)
  assert.ok(messages.some((m) => m.kind === 'step1'), 'step 1 sent after the re-join')
  const announce = messages.find((m) => m.kind === 'awareness' && m.entries[0].clientID === me)
  assert.ok(announce, 'presence re-announced')
  assert.ok(announce.entries[0].clock > clockBefore, 'with a new clock')
  assert.equal(server.page('Page').awareness.getStates().get(me).user.name, 'Alice', 'the server knows us again at once')
  assert.equal(p.unsaved, 1, 'the offline edit stays unsaved until a save')
})

test('server status events are passed on and update the provider', async (t) => {
  const { server, socket, open } = setup(t, { initial: { Page: 'x' } })
  const p = open('Page')
  socket.open()
  await live(p)
  const seen = []
  const errors = []
  p.on('server-status', (s) => seen.push(s.state))
  p.on('error', (e) => errors.push(e))

  server.status('Page', { state: 'merged', revid: 12, user: 'Bob' })
  await until(() => p.revid === 12, 'the merged revision')
  assert.equal(p.state, 'live')

  server.status('Page', { state: 'readonly', message: 'the page was protected' })
  await until(() => p.readonly, 'readonly')
  assert.equal(p.status.readonlyReason, 'the page was protected')

  server.status('Page', { state: 'error', code: 'saveerror', message: 'Spam filter' })
  await until(() => p.state === 'error', 'error')
  assert.deepEqual(errors, [{ code: 'saveerror', message: 'Spam filter' }])
  assert.equal(p.status.message, 'Spam filter')

  server.status('Page', { state: 'removed', message: 'the page was deleted' })
  await until(() => p.state === 'removed', 'removed')
  assert.deepEqual(seen, ['merged', 'readonly', 'error', 'removed'])

  const joins = server.joins.length
  socket.drop()
  socket.open()
  await tick()
  await tick()
  assert.equal(server.joins.length, joins, 'a removed page is not re-joined automatically')
  assert.equal(p.state, 'removed')
  p.connect()
  await live(p)
})

test('save resolves with the server ack and moves through saving to saved', async (t) => {
  const { server, socket, open } = setup(t, { initial: { Page: 'x' } })
  const p = open('Page')
  socket.open()
  await live(p)
  p.doc.getText('wikitext').insert(0, 'y')
  server.saveReply = { ok: true, revid: 42 }
  const pending = p.save()
  assert.equal(p.state, 'saving')
  assert.deepEqual(await pending, { ok: true, revid: 42 })
  assert.equal(p.state, 'saved')
  assert.equal(p.revid, 42)
  assert.equal(p.unsaved, 0)

  server.saveReply = { ok: false, error: { code: 'saveerror', message: 'Abuse filter' } }
  const errors = []
  p.on('error', (e) => errors.push(e.code))
  const ack = await p.save()
  assert.equal(ack.ok, false)
  assert.equal(p.state, 'error')
  assert.deepEqual(errors, ['saveerror'])

  socket.drop()
  assert.deepEqual((await p.save()).error.code, 'offline')
})

test('requests without an answer time out', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] })
  t.after(() => mock.timers.reset())
  const { server, socket, open } = setup(t, { initial: { Page: 'x' } }, { saveTimeoutMs: 5000 })
  const p = open('Page')
  socket.open()
  await live(p)
  server.saveReply = null
  const pending = p.save()
  mock.timers.tick(5000)
  assert.equal((await pending).error.code, 'timeout')
  assert.equal(p.state, 'error')
})

test('a transient join error is retried with backoff, a permanent one is not', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] })
  t.after(() => mock.timers.reset())
  const { server, socket, open } = setup(t, { initial: { Page: 'x', Other: 'y' } })
  server.joinError = { code: 'wikiunavailable', message: 'the wiki is down' }
  const p = open('Page')
  const errors = []
  p.on('error', (e) => errors.push(e.code))
  socket.open()
  await until(() => p.state === 'error', 'the join to fail')
  assert.deepEqual(errors, ['wikiunavailable'])
  server.joinError = null
  mock.timers.tick(1000) // first retry within [0.5 s, 1 s]
  await live(p)
  assert.equal(server.joins.length, 2)

  server.joinError = { code: 'forbidden', message: 'blocked' }
  const q = open('Other')
  await until(() => q.state === 'error', 'the second join to fail')
  mock.timers.tick(60000)
  await tick()
  assert.equal(server.joins.filter((j) => j === 'Other').length, 1, 'forbidden is not retried')
})

test('a connection the server closed stays closed: no reconnect, the pages stop syncing and say why', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] })
  t.after(() => mock.timers.reset())
  const { socket, connection } = setup(t)
  const p = new PageProvider(connection, 'Page', new Y.Doc(), { user: { name: 'Alice' }, connect: false })
  const statuses = []
  connection.on('status', (s) => statuses.push(s.status))
  socket.open()
  socket.active = false
  socket.drop('io server disconnect')
  mock.timers.tick(60000)
  assert.equal(socket.connectCalls, 0)
  assert.equal(connection.closed, true)
  assert.deepEqual(statuses, ['connected', 'disconnected'])
  assert.equal(p.status.closed, true)
  assert.equal(p.status.closedCode, 'disconnected')
  assert.equal(p.state, 'removed')
  assert.match(p.message, /closed the connection/)
})

test('a message over the size limit ends the connection without a reconnect loop', async (t) => {
  const { socket, connection } = setup(t, { initial: { Page: 'x' } })
  const p = new PageProvider(connection, 'Page', new Y.Doc(), { user: { name: 'Alice' } })
  socket.open()
  await live(p)
  mock.timers.enable({ apis: ['setTimeout'] })
  t.after(() => mock.timers.reset())
  socket._fire('status', 'Page', { state: 'error', code: 'toolarge', message: 'message of 20971520 bytes exceeds the limit' })
  socket.active = false
  socket.drop('io server disconnect')
  mock.timers.tick(60000)
  assert.equal(socket.connectCalls, 0, 'no reconnect after a fatal refusal')
  assert.equal(p.state, 'error')
})

test('destroy leaves the page, clears our presence and removes every listener and observer', async (t) => {
  const { server, socket, connection } = setup(t, { initial: { Page: 'x' } })
  const doc = new Y.Doc()
  const awareness = new Awareness(doc)
  t.after(() => {
    awareness.destroy()
    doc.destroy()
  })
  const docObservers = doc._observers.get('update')?.size ?? 0
  const awarenessObservers = awareness._observers.get('update')?.size ?? 0
  const socketListeners = socket.listenerCount()
  const p = new PageProvider(connection, 'Page', doc, { awareness, user: { name: 'Alice' } })
  p.on('status', () => {})
  socket.open()
  await live(p)
  assert.ok(server.page('Page').awareness.getStates().has(doc.clientID))

  p.destroy()

  assert.equal(socket.sentEvents('leave').length, 1)
  assert.deepEqual(socket.sentEvents('leave')[0].args, ['Page'])
  await until(() => !server.page('Page').awareness.getStates().has(doc.clientID), 'our presence to be cleared on the server')
  assert.equal(awareness.getLocalState(), null, 'our local presence is cleared')
  assert.equal(doc._observers.get('update')?.size ?? 0, docObservers)
  assert.equal(awareness._observers.get('update')?.size ?? 0, awarenessObservers)
  assert.equal(p._observers.size, 0)
  assert.equal(connection.pages.size, 0)
  assert.equal(connection.ownerOf('Page'), undefined, 'no title routes to the destroyed page')
  const sent = socket.sent.length
  doc.getText('wikitext').insert(0, 'after')
  assert.equal(socket.sent.length, sent, 'edits after destroy are not sent')

  connection.destroy()
  assert.equal(socket.listenerCount(), socketListeners - 5)
  assert.equal(socket.listenerCount(), 0)
  assert.equal(socket.disconnectCalls, 1)
})

test('several pages on one connection stay isolated', async (t) => {
  const { server, socket, open } = setup(t, { initial: { A: 'aaa', B: 'bbb' } })
  const a = open('A')
  const b = open('B')
  socket.open()
  await live(a)
  await live(b)
  assert.equal(text(a), 'aaa')
  assert.equal(text(b), 'bbb')

  a.doc.getText('wikitext').insert(0, '1')
  server.edit('B', (t) => t.insert(3, '2'))
  await until(() => server.text('A') === '1aaa' && text(b) === 'bbb2', 'each edit to reach its own page')
  assert.equal(server.text('B'), 'bbb2')
  assert.equal(text(a), '1aaa')
  assert.equal(a.unsaved, 1)
  assert.equal(b.unsaved, 0)

  server.status('B', { state: 'saved', revid: 20 })
  await until(() => b.state === 'saved', 'B saved')
  assert.equal(a.state, 'live')

  a.destroy()
  server.edit('B', (t) => t.insert(0, '3'))
  await until(() => text(b) === '3bbb2', 'B to keep working after A left')
})

test('a second provider for the same page on one connection is refused', async (t) => {
  const { socket, open } = setup(t, { initial: { Page: 'x' } })
  const first = open('Page')
  socket.open()
  await live(first)
  const second = open('page') // normalises to the same page
  await until(() => second.state === 'error', 'the duplicate to be refused')
  assert.equal(second.status.error.code, 'duplicate')
  second.destroy()
  assert.equal(socket.sentEvents('leave').length, 0, 'destroying the duplicate does not leave the page')
  assert.equal(first.state, 'live')
})

test('two clients converge through the server', async (t) => {
  const server = new FakeServer({ initial: { Page: 'Hello' } })
  const sockets = [new FakeSocket(), new FakeSocket()].map((s) => server.attach(s))
  const connections = sockets.map((socket) => new CollabConnection('http://collab.test', { socket }))
  const docs = [new Y.Doc(), new Y.Doc()]
  const [p, q] = connections.map((c, i) => new PageProvider(c, 'Page', docs[i], { user: { name: `U${i}` } }))
  t.after(() => {
    connections.forEach((c) => c.destroy())
    docs.forEach((d) => d.destroy())
    server.destroy()
  })
  sockets.forEach((s) => s.open())
  await live(p)
  await live(q)
  await until(() => p.awareness.getStates().size === 2 && q.awareness.getStates().size === 2, 'both to see each other')

  p.doc.getText('wikitext').insert(0, 'P')
  q.doc.getText('wikitext').insert(5, 'Q')
  await until(() => text(p) === text(q) && text(p).length === 7, 'convergence')
  assert.equal(text(p), server.text('Page'))

  sockets[1].drop()
  await until(() => p.awareness.getStates().size === 1, 'the other to disappear when it drops')
})

test('a query-awareness message is answered with our own state only', async (t) => {
  const { socket, open } = setup(t, { initial: { Page: 'x' } })
  const p = open('Page')
  socket.open()
  await live(p)
  const before = socket.sentMessages().length
  socket.deliver('y', 'Page', new Uint8Array([3]).buffer)
  await until(() => socket.sentMessages().length > before, 'an answer')
  const answer = socket.sentMessages().at(-1)
  assert.equal(answer.kind, 'awareness')
  assert.deepEqual(answer.entries.map((e) => e.clientID), [p.doc.clientID])
})

test('malformed messages and acks are reported, not thrown', async (t) => {
  const { socket, open, connection } = setup(t, { initial: { Page: 'x' } })
  const p = open('Page')
  socket.open()
  await live(p)
  const errors = []
  p.on('error', (e) => errors.push(e.code))
  socket.deliver('y', 'Page', new Uint8Array([7, 1, 2]).buffer)
  socket.deliver('y', 'Page', [0, 0, 0])
  await until(() => errors.length === 2, 'two errors')
  assert.deepEqual(errors, ['badmessage', 'badmessage'])
  assert.equal(p.state, 'live')

  socket.server = null // answer by hand
  const pending = connection.request('save', ['Page'], 1000)
  socket.sent.at(-1).ack('not an object')
  assert.equal((await pending).error.code, 'badmessage')
})

test('a server URL with a path prefix keeps the prefix in the Socket.IO path, not the namespace', () => {
  assert.deepEqual(socketTarget('https://wiki.example/collab/'), { origin: 'https://wiki.example', path: '/collab/socket.io' })
  assert.deepEqual(socketTarget('http://127.0.0.1:8765'), { origin: 'http://127.0.0.1:8765', path: '/socket.io' })
})

test('save sends the editor\'s summary and minor box as its second argument, and nothing more without them', async (t) => {
  const { server, socket, open } = setup(t, { initial: { Page: 'Hello' } })
  const p = open('Page')
  socket.open()
  await live(p)
  assert.deepEqual(await p.save({ summary: 'Fixed the dates', minor: true }), { ok: true, revid: 100 })
  await p.save()
  assert.deepEqual(server.saveOptions, [{ summary: 'Fixed the dates', minor: true }, undefined])
})
