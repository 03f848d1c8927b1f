// MediaWiki Collab admin dashboard: live over the Socket.IO namespace /admin, no polling, no CDN.
//
// A minimal Socket.IO v5 / Engine.IO v4 client over one WebSocket (text frames only; the admin namespace
// never sends binary): connect, answer pings, connect the namespace (the browser sends the wiki's session
// cookie with the handshake; an admin token from sessionStorage goes in the auth payload), events, acks.
// Everything shown comes from `sessions` snapshots the server pushes when something changes; a local
// one-second tick only re-renders relative times ("idle 12 s") from the last snapshot.
'use strict'
;(function () {
  const NAMESPACE = '/admin'
  const TOKEN_KEY = 'collab-admin-token'

  // ---- Socket.IO over a WebSocket ---------------------------------------------------------------------
  class AdminSocket {
    constructor (handlers) {
      this.handlers = handlers
      this.ws = null
      this.nextId = 1
      this.acks = new Map()
      this.connected = false
      this.refused = false
      this.backoff = 500
    }

    open () {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
      const ws = new WebSocket(`${proto}//${location.host}/socket.io/?EIO=4&transport=websocket`)
      this.ws = ws
      ws.onmessage = (ev) => this._onFrame(String(ev.data))
      ws.onclose = () => {
        if (this.ws !== ws) return
        const was = this.connected
        this.connected = false
        for (const [, reject] of this.acks.values()) reject(new Error('connection lost'))
        this.acks.clear()
        if (was || !this.refused) this.handlers.down()
        if (!this.refused) {
          setTimeout(() => this.open(), this.backoff)
          this.backoff = Math.min(this.backoff * 2, 10000)
        }
      }
    }

    _send (text) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text)
    }

    _onFrame (frame) {
      const type = frame[0]
      if (type === '0') { // engine.io open: connect our namespace
        const token = sessionStorage.getItem(TOKEN_KEY)
        this._send('40' + NAMESPACE + ',' + JSON.stringify(token ? { token } : {}))
      } else if (type === '2') {
        this._send('3') // pong
      } else if (type === '4') {
        this._onPacket(frame.slice(1))
      }
    }

    _onPacket (packet) {
      const type = packet[0]
      let rest = packet.slice(1)
      if (rest.startsWith('/')) {
        const comma = rest.indexOf(',')
        if (rest.slice(0, comma) !== NAMESPACE) return
        rest = rest.slice(comma + 1)
      } else {
        return // the default namespace: not ours
      }
      const m = /^(\d*)([\s\S]*)$/.exec(rest)
      const id = m[1] ? Number(m[1]) : null
      const data = m[2] ? JSON.parse(m[2]) : null
      if (type === '0') {
        this.connected = true
        this.backoff = 500
        this.handlers.up()
      } else if (type === '4') { // connect_error: refused
        this.refused = true
        this.handlers.refused(data || {})
        this.ws.close()
      } else if (type === '2' && Array.isArray(data)) {
        this.handlers.event(data[0], data[1])
      } else if (type === '3' && id !== null && this.acks.has(id)) {
        const [resolve] = this.acks.get(id)
        this.acks.delete(id)
        resolve(Array.isArray(data) ? data[0] : data)
      } else if (type === '1') {
        this.ws.close()
      }
    }

    call (event, payload) {
      return new Promise((resolve, reject) => {
        if (!this.connected) { reject(new Error('not connected')); return }
        const id = this.nextId++
        this.acks.set(id, [resolve, reject])
        this._send('42' + NAMESPACE + ',' + id + JSON.stringify([event, payload ?? {}]))
      })
    }
  }

  // ---- rendering --------------------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id)
  const tbody = document.querySelector('#sessions tbody')
  const rows = new Map() // title -> {tr, cells, sigs}
  let snapshot = null
  let skew = 0 // server clock - local clock, seconds

  function el (tag, attrs, ...children) {
    const node = document.createElement(tag)
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
      else node.setAttribute(k, v)
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c)
    return node
  }

  function serverNow () { return Date.now() / 1000 + skew }

  function ago (seconds) {
    if (seconds === null || seconds === undefined) return '–'
    const s = Math.max(0, Math.round(seconds))
    if (s < 60) return `${s} s`
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? (s % 60) + ' s' : ''}`.trim()
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
  }

  function clock (epoch) {
    return new Date(epoch * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  }

  function wikiTime (iso) {
    const t = Date.parse(iso)
    return Number.isNaN(t) ? '' : `${ago(serverNow() - t / 1000)} ago`
  }

  function link (href, text, cls) {
    return el('a', { href, target: '_blank', rel: 'noopener noreferrer', class: cls || '' }, text)
  }

  const CELLS = [
    ['title', 'Page'], ['editors', 'Editors'], ['unsaved', 'Unsaved'], ['lastsave', 'Last save'],
    ['merges', 'Outside · conflicts'], ['error', 'Last error'], ['node', 'Node'], ['actions', 'Actions']
  ]

  function renderCell (name, s) {
    switch (name) {
      case 'title':
        return [link(s.links.page, s.title), el('br'), el('small', {}, link(s.links.history, 'history'),
          s.base_revid ? ` · base r${s.base_revid}` : ' · new page')]
      case 'editors': {
        if (!s.editors.length) return [el('span', { class: 'sub' }, 'nobody')]
        const ul = el('ul', { class: 'editors' })
        for (const e of s.editors) {
          ul.append(el('li', { 'data-user': e.user, 'data-sid': e.sid },
            el('b', { class: 'editor-name' }, e.user),
            e.readonly ? el('span', { class: 'badge ro' }, 'read-only') : null,
            el('small', { 'data-since': String(e.connected_since) }, `since ${clock(e.connected_since)}`),
            el('small', { 'data-idle': String(e.last_active) }, `idle ${ago(serverNow() - e.last_active)}`),
            el('button', {
              class: 'disconnect danger',
              title: `Disconnect ${e.user} from this page`,
              onclick: () => act('disconnect_user', { title: s.title, sid: e.sid },
                `Disconnect ${e.user} from “${s.title}”?`)
            }, 'disconnect')))
        }
        return [ul]
      }
      case 'unsaved': {
        const u = s.unsaved
        return [el('b', { class: 'unsaved-count' }, String(u.changes)), ' changes',
          el('br'),
          el('small', { class: 'unsaved-age', 'data-at': u.oldest_at === null ? '' : String(u.oldest_at) },
            u.oldest_at === null ? 'all saved' : `oldest ${ago(serverNow() - u.oldest_at)}`),
          u.authors.length ? el('small', { class: 'unsaved-authors' }, ` · by ${u.authors.join(', ')}`) : null,
          s.saving ? el('span', { class: 'badge saving' }, ' saving…') : null]
      }
      case 'lastsave': {
        const l = s.last_save
        if (!l) return [el('span', { class: 'sub' }, 'not saved yet')]
        return [link(l.diff, `r${l.revid}`, 'last-revid'), ' ',
          el('small', { class: 'last-time', 'data-ts': l.timestamp || '' }, l.timestamp ? wikiTime(l.timestamp) : ''),
          el('br'), el('small', { class: 'coauthors' }, l.coauthors.length ? l.coauthors.join(', ') : '–')]
      }
      case 'merges':
        return [el('span', { class: 'outside-merges' }, String(s.outside_merges)), ' · ',
          el('span', { class: 'conflicts' }, String(s.conflicts))]
      case 'error':
        return s.last_error ? [el('span', { class: 'error last-error' }, s.last_error)] : [el('span', { class: 'sub' }, '–')]
      case 'node':
        return [el('small', {}, s.node)]
      case 'actions':
        return [
          el('button', { class: 'save-now', onclick: () => act('save_now', { title: s.title }, `Save “${s.title}” to the wiki now?`) }, 'Save now'),
          el('button', {
            class: 'end-session danger',
            onclick: () => act('end_session', { title: s.title },
              `End the session on “${s.title}”? The text is saved first, then all ${s.editors.length} editor(s) are disconnected.`)
          }, 'End session')]
    }
    return []
  }

  function cellSignature (name, s) {
    // What a cell depends on, minus the times that the tick re-renders locally.
    switch (name) {
      case 'title': return JSON.stringify([s.title, s.links, s.base_revid])
      case 'editors': return JSON.stringify(s.editors.map((e) => [e.sid, e.user, e.readonly, e.connected_since, e.last_active]))
      case 'unsaved': return JSON.stringify([s.unsaved, s.saving])
      case 'lastsave': return JSON.stringify(s.last_save)
      case 'merges': return `${s.outside_merges}/${s.conflicts}`
      case 'error': return s.last_error || ''
      case 'node': return s.node
      case 'actions': return `${s.title}/${s.editors.length}`
    }
    return ''
  }

  function renderSessions (sessions) {
    const seen = new Set()
    let previous = null
    for (const s of sessions) {
      seen.add(s.title)
      let row = rows.get(s.title)
      if (!row) {
        const tr = el('tr', { class: 'session', 'data-title': s.title })
        const cells = {}
        for (const [name, label] of CELLS) {
          cells[name] = el('td', { class: name, 'data-label': label })
          tr.append(cells[name])
        }
        row = { tr, cells, sigs: {} }
        rows.set(s.title, row)
      }
      for (const [name] of CELLS) {
        const sig = cellSignature(name, s)
        if (row.sigs[name] !== sig) {
          // One wrapper per cell: on phones the cell is a grid of (label, value).
          const parts = renderCell(name, s).filter((c) => c !== null && c !== undefined)
          row.cells[name].replaceChildren(el('div', { class: 'v' }, ...parts))
          row.sigs[name] = sig
        }
      }
      // Keep the table's order equal to the snapshot's without re-inserting rows that are in place.
      const want = previous ? previous.nextSibling : tbody.firstChild
      if (want !== row.tr) tbody.insertBefore(row.tr, want)
      previous = row.tr
    }
    for (const [title, row] of rows) {
      if (!seen.has(title)) { row.tr.remove(); rows.delete(title) }
    }
    $('empty').style.display = sessions.length ? 'none' : 'block'
  }

  function renderChart (svgId, sumId, values, start, step) {
    const svg = $(svgId)
    const nowMinute = Math.floor(serverNow() / step) * step
    // Shift locally when minutes pass without a push: the last bar is always "this minute".
    const shift = Math.max(0, Math.round((nowMinute - (start + (values.length - 1) * step)) / step))
    const shown = values.slice(Math.min(shift, values.length)).concat(new Array(Math.min(shift, values.length)).fill(0))
    const max = Math.max(1, ...shown)
    const w = 300 / shown.length
    const ns = 'http://www.w3.org/2000/svg'
    const nodes = []
    const base = document.createElementNS(ns, 'line')
    for (const [k, v] of Object.entries({ x1: 0, x2: 300, y1: 59.5, y2: 59.5, stroke: '#c8ccd1', 'stroke-width': 1 })) base.setAttribute(k, v)
    nodes.push(base)
    shown.forEach((v, i) => {
      if (!v) return
      const h = Math.max(2, (v / max) * 56)
      const r = document.createElementNS(ns, 'rect')
      for (const [k, val] of Object.entries({ x: i * w + 0.5, y: 60 - h, width: Math.max(1, w - 1), height: h, fill: '#36c' })) r.setAttribute(k, val)
      const t = document.createElementNS(ns, 'title')
      t.textContent = `${v} in the minute ${clock(nowMinute - (shown.length - 1 - i) * step)}`
      r.append(t)
      nodes.push(r)
    })
    svg.replaceChildren(...nodes)
    $(sumId).textContent = `(last hour: ${shown.reduce((a, b) => a + b, 0)}, peak ${Math.max(0, ...shown)}/min)`
  }

  function render () {
    if (!snapshot) return
    const t = snapshot.totals
    $('node').textContent = snapshot.node
    $('t-pages').textContent = t.pages
    $('t-editors').textContent = t.editors
    $('t-users').textContent = t.users === 1 ? '1 person' : `${t.users} people`
    $('t-unsaved').textContent = t.unsaved_changes
    $('t-unsaved-pages').textContent = t.unsaved_pages
    $('t-saving').textContent = t.saving
    $('t-errors').textContent = t.errors
    $('tile-errors').classList.toggle('alert', t.errors > 0)
    $('t-merges').textContent = t.outside_merges
    $('t-conflicts').textContent = t.conflicts
    renderSessions(snapshot.sessions)
    renderCharts()
  }

  function renderCharts () {
    const h = snapshot.history
    renderChart('c-edits', 'c-edits-sum', h.edits, h.start, h.step_s)
    renderChart('c-saves', 'c-saves-sum', h.saves, h.start, h.step_s)
  }

  function tick () {
    // Relative times only; the data itself changes when the server pushes.
    for (const node of document.querySelectorAll('[data-idle]')) {
      node.textContent = `idle ${ago(serverNow() - Number(node.dataset.idle))}`
    }
    for (const node of document.querySelectorAll('.unsaved-age[data-at]')) {
      if (node.dataset.at) node.textContent = `oldest ${ago(serverNow() - Number(node.dataset.at))}`
    }
    for (const node of document.querySelectorAll('.last-time[data-ts]')) {
      if (node.dataset.ts) node.textContent = wikiTime(node.dataset.ts)
    }
    if (snapshot && new Date().getSeconds() === 0) renderCharts()
  }

  function setSnapshot (data) {
    if (!data || !Array.isArray(data.sessions)) return
    skew = data.generated_at - Date.now() / 1000
    snapshot = data
    render()
  }

  // ---- actions ----------------------------------------------------------------------------------------
  let noticeTimer = null
  function notice (text, bad) {
    const n = $('notice')
    n.textContent = text
    n.className = 'show' + (bad ? ' bad' : '')
    clearTimeout(noticeTimer)
    noticeTimer = setTimeout(() => { n.className = '' }, 6000)
  }

  function describe (action, result) {
    if (!result || !result.ok) return `Failed: ${(result && result.error && result.error.message) || 'no answer'}`
    if (action === 'save_now') return result.revid ? `Saved as revision ${result.revid}.` : 'Nothing new to save.'
    if (action === 'end_session') return `Session ended: ${result.disconnected} editor(s) disconnected${result.revid ? `, saved as revision ${result.revid}` : ''}.`
    return `${result.disconnected} connection(s) disconnected.`
  }

  async function act (action, payload, question) {
    if (!window.confirm(question)) return
    try {
      const result = await sock.call(action, payload)
      notice(describe(action, result), !(result && result.ok))
    } catch (err) {
      notice(`Failed: ${err.message}`, true)
    }
  }

  const actionLog = []
  function logAction (entry) {
    actionLog.unshift(entry)
    actionLog.length = Math.min(actionLog.length, 50)
    const ul = $('actions')
    ul.replaceChildren(...actionLog.map((a) => el('li', {},
      el('small', {}, clock(a.at)), ' ', el('b', {}, a.admin), ` ${a.action.replace('_', ' ')} `,
      el('i', {}, a.title), a.target ? ` (${a.target})` : '', ': ',
      a.result && a.result.ok ? 'ok' : el('span', { class: 'error' }, (a.result && a.result.error && a.result.error.message) || 'failed'))))
  }

  // ---- wiring -----------------------------------------------------------------------------------------
  const sock = new AdminSocket({
    up: async () => {
      $('conn').textContent = 'live'
      $('conn').className = 'live'
      $('refused').style.display = 'none'
      try {
        const who = await sock.call('whoami')
        if (who && who.ok) $('whoami').textContent = who.via === 'token' ? 'admin token' : who.name
        setSnapshot(await sock.call('sessions'))
      } catch (err) {
        notice(`Could not load the sessions: ${err.message}`, true)
      }
    },
    down: () => {
      $('conn').textContent = 'reconnecting…'
      $('conn').className = 'down'
    },
    refused: (err) => {
      $('conn').textContent = 'refused'
      $('conn').className = 'down'
      const box = $('refused')
      box.textContent = `The server refused the live connection: ${err.message || 'not allowed'}. Log in to the wiki as an administrator and reload.`
      box.style.display = 'block'
    },
    event: (name, data) => {
      if (name === 'sessions') setSnapshot(data)
      else if (name === 'action') logAction(data)
    }
  })
  sock.open()
  setInterval(tick, 1000)
})()
