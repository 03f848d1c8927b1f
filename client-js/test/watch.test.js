// "Watch this page" in collaborative mode: when to watch, and the wiki API calls (no DOM, no wiki).
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { wantsWatch, watchPage } from '../src/watch.js'

test('watches only for a ticked box, a logged-in user and a revision with their text', () => {
  const saved = { revid: 7, coauthors: ['Alice', 'Bob'] }
  assert.equal(wantsWatch(saved, 'Alice', true), true)
  assert.equal(wantsWatch(saved, 'Alice', false), false)
  assert.equal(wantsWatch(saved, 'Carol', true), false)
  assert.equal(wantsWatch(saved, null, true), false)
  assert.equal(wantsWatch(null, 'Alice', true), false)
})

/** A fake fetch answering each call from `answers` in turn, recording the calls. */
const fakeFetch = (answers) => {
  const calls = []
  const fn = async (url, init = {}) => {
    calls.push({ url: String(url), init })
    const [status, body] = answers.shift()
    return { ok: status === 200, status, json: async () => body }
  }
  return { fn, calls }
}

test('gets a watch token, then POSTs action=watch with it, the title and the expiry', async () => {
  const { fn, calls } = fakeFetch([
    [200, { query: { tokens: { watchtoken: 'abc+\\' } } }],
    [200, { watch: [{ ns: 0, title: 'Some page', watched: true }] }]
  ])
  await watchPage('/w/api.php', 'Some page', { expiry: '1 week', fetch: fn })
  assert.match(calls[0].url, /^\/w\/api\.php\?.*meta=tokens.*type=watch/)
  assert.equal(calls[1].url, '/w/api.php')
  assert.equal(calls[1].init.method, 'POST')
  const body = calls[1].init.body
  assert.equal(body.get('action'), 'watch')
  assert.equal(body.get('titles'), 'Some page')
  assert.equal(body.get('token'), 'abc+\\')
  assert.equal(body.get('expiry'), '1 week')
})

test('an infinite expiry is left out', async () => {
  const { fn, calls } = fakeFetch([
    [200, { query: { tokens: { watchtoken: 't' } } }],
    [200, { watch: [{ title: 'P', watched: true }] }]
  ])
  await watchPage('/api.php', 'P', { expiry: 'infinite', fetch: fn })
  assert.equal(calls[1].init.body.has('expiry'), false)
})

test('a refusal or an HTTP error is thrown with the reason', async () => {
  await assert.rejects(watchPage('/api.php', 'P', {
    fetch: fakeFetch([[200, { query: { tokens: { watchtoken: 't' } } }], [200, { error: { code: 'badtoken', info: 'Invalid CSRF token.' } }]]).fn
  }), /Invalid CSRF token/)
  await assert.rejects(watchPage('/api.php', 'P', { fetch: fakeFetch([[503, {}]]).fn }), /HTTP 503/)
  await assert.rejects(watchPage('/api.php', 'P', {
    fetch: fakeFetch([[200, { query: { tokens: { watchtoken: 't' } } }], [200, { watch: [{ title: 'P' }] }]]).fn
  }), /did not watch/)
})
