// Unit tests of what happens when the server ends, moves or stops syncing a page (issue 13, items 7-8):
// removed pages and closed connections stop syncing and say why, moved pages follow the new title, and
// the unload warning is given exactly when work would be lost. Against the in-memory server: no network.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'

import { CollabConnection } from '../src/connection.js'
import { PageProvider, losesWorkOnUnload } from '../src/page.js'
import { FakeServer, FakeSocket, tick, until } from '../testing/fake.js'

/**
 * A server, a socket and a connection; a second client (`other`) on the same server on demand.
 * @param {import('node:test').TestContext} t
 * @param {ConstructorParameters<typeof FakeServer>[0]} [serverOpts]
 */
const setup = (t, serverOpts) => {
  const server = new FakeServer(serverOpts)
  /** @type {Array<() => void>} */
  const cleanups = []
  const client = () => {
    const socket = server.attach(new FakeSocket())
    const connection = new CollabConnection('http://collab.test', { socket })
    /** @param {string} title */
    const open = (title) => {
      const doc = new Y.Doc()
      cleanups.push(() => doc.destroy())
      return new PageProvider(connection, title, doc, { user: { name: 'Alice' } })
    }
    cleanups.push(() => connection.destroy())
    return { socket, connection, open }
  }
  t.after(() => {
    for (const c of cleanups.reverse()) c()
    server.destroy()
  })
  return { server, client }
}

/** @param {PageProvider} p */
const text = (p) => p.doc.getText('wikitext').toString()

/** @param {PageProvider} p */
const live = (p) => until(() => p.state === 'live', `${p.title} to be live`)

for (const code of ['kicked', 'deleted', 'forbidden', undefined]) {
  test(`a removed status (code ${code}) stops the page syncing at once, with the message and the text kept`, async (t) => {
    const { server, client } = setup(t, { initial: { Page: 'Hello' } })
    const { socket, open } = client()
    const p = open('Page')
    socket.open()
    await live(p)
    p.doc.getText('wikitext').insert(5, ', world')
    await until(() => server.text('Page') === 'Hello, world', 'the edit to reach the server')
    /** @type {import('../src/page.js').PageStatus[]} */
    const seen = []
    p.on('status', (s) => seen.push(s))

    server.remove('Page', socket, { code, message: 'Admin disconnected you from this page' })
    await until(() => p.state === 'removed', 'the removal')

    assert.equal(seen.length, 1, 'one status change, closed and removed together')
    assert.equal(p.status.closed, true)
    assert.equal(p.status.closedCode, code || 'removed')
    assert.equal(p.message, 'Admin disconnected you from this page')
    assert.equal(text(p), 'Hello, world', 'the local text stays')
    assert.equal(p.status.unsynced, 0, 'everything typed before had been sent')
    const ack = await p.save()
    assert.equal(ack.ok, false)
    assert.equal(ack.ok === false && ack.error.code, 'closed')
    // An edit now (the editor is read-only, but a script may still write) is not sent, and is counted.
    const sent = socket.sentMessages().length
    p.doc.getText('wikitext').insert(0, '!')
    await tick()
    assert.equal(socket.sentMessages().length, sent, 'nothing is sent for a removed page')
    assert.equal(p.status.unsynced, 1)
    assert.equal(losesWorkOnUnload(p.status), true)
  })
}

test('a server-side disconnect after a kick keeps the kick as the reason', async (t) => {
  const { server, client } = setup(t, { initial: { Page: 'Hello' } })
  const { socket, connection, open } = client()
  const p = open('Page')
  socket.open()
  await live(p)
  server.remove('Page', socket, { code: 'kicked', message: 'Admin disconnected you' })
  await until(() => p.state === 'removed', 'the removal')
  socket.active = false
  socket.drop('io server disconnect')
  assert.equal(connection.closed, true)
  assert.equal(p.status.closedCode, 'kicked')
  assert.equal(p.message, 'Admin disconnected you')
})

test('a page whose connection was refused for good stops syncing too', async (t) => {
  const { client } = setup(t, { initial: { Page: 'x' } })
  const { socket, open } = client()
  const p = open('Page')
  socket.open()
  await live(p)
  socket._fire('status', 'Page', { state: 'error', code: 'toolarge', message: 'too large' })
  socket.active = false
  socket.drop('io server disconnect')
  assert.equal(p.state, 'error')
  assert.equal(p.status.closed, true)
  assert.equal(p.status.closedCode, 'refused')
})

test('after a move the page lives under the new title: updates, saves and the routing follow it', async (t) => {
  const { server, client } = setup(t, { initial: { Old: 'Moved text' } })
  const alice = client()
  const bob = client()
  const a = alice.open('Old')
  const b = bob.open('Old')
  alice.socket.open()
  bob.socket.open()
  await live(a)
  await live(b)
  /** @type {Array<{from: string, title: string}>} */
  const moves = []
  a.on('moved', (m) => moves.push(m))
  const serverStatuses = []
  a.on('server-status', (s) => serverStatuses.push(s.state))

  server.move('Old', 'New')
  await until(() => a.title === 'New' && b.title === 'New', 'both pages to follow the move')

  assert.deepEqual(moves, [{ from: 'Old', title: 'New' }])
  assert.deepEqual(serverStatuses, ['moved'])
  assert.equal(a.state, 'live', 'still live: no re-join')
  assert.equal(a.status.closed, false)
  assert.equal(alice.connection.ownerOf('New'), a._link)
  assert.equal(alice.connection.ownerOf('Old'), undefined, 'the old title is free for another page')
  const joins = server.joins.length
  a.doc.getText('wikitext').insert(0, 'Still ')
  await until(() => text(b) === 'Still Moved text', 'the edit to reach Bob under the new title')
  assert.ok(alice.socket.sentMessages().filter((m) => m.kind === 'update').every((m) => m.title === 'New'))
  server.edit('New', (y) => y.insert(y.length, '.'))
  await until(() => text(a) === 'Still Moved text.', 'the server edit to arrive under the new title')
  const ack = await a.save()
  assert.equal(ack.ok, true)
  assert.equal(server.saves.at(-1), 'New')
  assert.equal(server.joins.length, joins, 'no new join was needed')

  // A reconnect re-joins the new title.
  alice.socket.drop()
  alice.socket.open()
  await live(a)
  assert.equal(server.joins.at(-1), 'New')
})

test('another page of the same connection can open the old title after a move', async (t) => {
  const { server, client } = setup(t, { initial: { Old: 'Moved text' } })
  const { socket, open } = client()
  const a = open('Old')
  socket.open()
  await live(a)
  server.move('Old', 'New')
  await until(() => a.title === 'New', 'the move')
  const redirect = open('Old')
  await live(redirect)
  assert.equal(redirect.status.error, null)
  assert.equal(text(a), 'Moved text')
})

test('offline edits count as unsynced until the re-join sent them; online edits never do', async (t) => {
  const { server, client } = setup(t, { initial: { Page: 'x' } })
  const { socket, open } = client()
  const p = open('Page')
  socket.open()
  await live(p)
  p.doc.getText('wikitext').insert(1, 'y')
  assert.equal(p.status.unsynced, 0)
  assert.equal(p.status.unsaved, 1)
  assert.equal(losesWorkOnUnload(p.status), false, 'the server has it and saves it: no warning')

  socket.drop()
  assert.equal(losesWorkOnUnload(p.status), false, 'offline without new edits: no warning')
  p.doc.getText('wikitext').insert(2, 'z')
  assert.equal(p.status.unsynced, 1)
  assert.equal(losesWorkOnUnload(p.status), true)

  socket.open()
  await live(p)
  await until(() => server.text('Page') === 'xyz', 'the offline edit to reach the server')
  assert.equal(p.status.unsynced, 0)
  assert.equal(losesWorkOnUnload(p.status), false)
})

test('the unload warning: unsynced edits, or our unsaved edits of a deleted page, and nothing else', () => {
  const base = {
    state: /** @type {const} */ ('removed'), unsaved: 0, unsynced: 0, closed: true, closedCode: 'kicked', synced: false,
    readonly: false, readonlyReason: null, revid: 1, title: 'T', message: null, error: null, saved: null
  }
  assert.equal(losesWorkOnUnload({ ...base, unsaved: 5 }), false, 'kicked: the server saves what it has')
  assert.equal(losesWorkOnUnload({ ...base, unsaved: 5, closedCode: 'deleted' }), true)
  assert.equal(losesWorkOnUnload({ ...base, closedCode: 'deleted' }), false)
  assert.equal(losesWorkOnUnload({ ...base, unsynced: 1 }), true)
  assert.equal(losesWorkOnUnload({ ...base, state: 'live', closed: false, closedCode: null, unsaved: 3 }), false)
})
