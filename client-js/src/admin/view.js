// @ts-check
/**
 * The dashboard's DOM (collab/static/admin.html): totals, two per-minute charts, one table row per open
 * page, the action log and a notice line. Everything shown comes from the last `sessions` snapshot;
 * {@link Dashboard.tick} only re-renders relative times ("idle 12 s") between pushes.
 *
 * @module admin/view
 */

/** @typedef {import('./snapshot.js').Snapshot} Snapshot */
/** @typedef {import('./snapshot.js').Session} Session */
/** @typedef {import('./snapshot.js').ActionEntry} ActionEntry */

/**
 * An admin clicked an action button: confirm `question`, then send `action` with `payload`.
 * @typedef {(action: string, payload: Object, question: string) => void} OnAction
 */

/** @typedef {Node|string|null|undefined} Child */

/**
 * @param {string} id
 * @return {HTMLElement}
 */
const $ = (id) => {
  const node = document.getElementById(id)
  if (!node) throw new Error(`#${id} is missing from the dashboard page`)
  return node
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string|EventListener>|null} [attrs] `class`, `on<event>` listeners, attributes
 * @param {...Child} children
 * @return {HTMLElementTagNameMap[K]}
 */
function el (tag, attrs, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (typeof v === 'function') node.addEventListener(k.slice(2), v)
    else if (k === 'class') node.className = v
    else node.setAttribute(k, v)
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c)
  return node
}

/** @param {number|null|undefined} seconds */
function ago (seconds) {
  if (seconds === null || seconds === undefined) return '–'
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? (s % 60) + ' s' : ''}`.trim()
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}

/**
 * `1 page`, `2 pages`: the count and the word that goes with it.
 * @param {number} n
 * @param {string} one
 * @param {string} [many] default: `one` + "s"
 */
export function plural (n, one, many) {
  return `${n} ${n === 1 ? one : (many || one + 's')}`
}

/**
 * The word alone (the count shown apart, e.g. in a tile).
 * @param {number} n
 * @param {string} one
 * @param {string} [many]
 */
const word = (n, one, many) => plural(n, one, many).slice(String(n).length + 1)

/**
 * The end-session question: how many editors it disconnects, in words.
 * @param {string} title
 * @param {number} editors
 */
export function endSessionQuestion (title, editors) {
  const who = editors === 0
    ? 'nobody is connected'
    : editors === 1 ? 'its one editor is disconnected' : `all ${editors} editors are disconnected`
  return `End the session on “${title}”? The text is saved first, then ${who}.`
}

/** @param {number} epoch seconds */
function clock (epoch) {
  return new Date(epoch * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

/**
 * @param {string} href
 * @param {string} text
 * @param {string} [cls]
 */
function link (href, text, cls) {
  return el('a', { href, target: '_blank', rel: 'noopener noreferrer', class: cls || '' }, text)
}

/** @typedef {'title'|'editors'|'unsaved'|'lastsave'|'merges'|'error'|'node'|'actions'} CellName */

/** @type {Array<[CellName, string]>} cell name, label (shown on phones) */
const CELLS = [
  ['title', 'Page'], ['editors', 'Editors'], ['unsaved', 'Unsaved'], ['lastsave', 'Last save'],
  ['merges', 'Outside · conflicts'], ['error', 'Last error'], ['node', 'Node'], ['actions', 'Actions']
]

/**
 * What a cell depends on, minus the times that the tick re-renders locally.
 * @param {CellName} name
 * @param {Session} s
 */
function cellSignature (name, s) {
  switch (name) {
    case 'title': return JSON.stringify([s.title, s.links, s.base_revid])
    case 'editors': return JSON.stringify(s.editors.map((e) => [e.sid, e.user, e.readonly, e.connected_since, e.last_active]))
    case 'unsaved': return JSON.stringify([s.unsaved, s.saving, s.links.unsaved_diff])
    case 'lastsave': return JSON.stringify(s.last_save)
    case 'merges': return `${s.outside_merges}/${s.conflicts}`
    case 'error': return s.last_error || ''
    case 'node': return s.node
    case 'actions': return `${s.title}/${s.editors.length}`
  }
  return ''
}

const SVG_NS = 'http://www.w3.org/2000/svg'

/**
 * @param {SVGElement} node
 * @param {Record<string, string|number>} attrs
 */
const setAttributes = (node, attrs) => {
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
}

/**
 * The dashboard of one page: renders snapshots, keeps the table rows across pushes.
 * @param {{onAction: OnAction}} opts
 */
export function createDashboard ({ onAction }) {
  const tbody = /** @type {HTMLTableSectionElement} */ (document.querySelector('#sessions tbody'))
  /** @type {Map<string, {tr: HTMLTableRowElement, cells: Record<string, HTMLTableCellElement>, sigs: Record<string, string>}>} */
  const rows = new Map()
  /** @type {Snapshot|null} */
  let snapshot = null
  let skew = 0 // server clock - local clock, seconds
  /** @type {ReturnType<typeof setTimeout>|undefined} */
  let noticeTimer
  /** @type {ActionEntry[]} */
  const actionLog = []

  const serverNow = () => Date.now() / 1000 + skew

  /** @param {string} iso */
  const wikiTime = (iso) => {
    const t = Date.parse(iso)
    return Number.isNaN(t) ? '' : `${ago(serverNow() - t / 1000)} ago`
  }

  /**
   * @param {CellName} name
   * @param {Session} s
   * @return {Child[]}
   */
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
              onclick: () => onAction('disconnect_user', { title: s.title, sid: e.sid },
                `Disconnect ${e.user} from “${s.title}”?`)
            }, 'disconnect')))
        }
        return [ul]
      }
      case 'unsaved': {
        const u = s.unsaved
        const chars = u.chars === undefined ? u.changes : u.chars // a node of an older version: its count
        return [el('b', { class: 'unsaved-count' }, String(chars)),
          el('span', { class: 'unsaved-word' }, ` ${word(chars, 'character')} changed`),
          chars && s.links.unsaved_diff ? el('small', {}, ' · ', link(s.links.unsaved_diff, 'see the unsaved text', 'unsaved-diff')) : null,
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
          el('button', { class: 'save-now', onclick: () => onAction('save_now', { title: s.title }, `Save “${s.title}” to the wiki now?`) }, 'Save now'),
          el('button', {
            class: 'end-session danger',
            onclick: () => onAction('end_session', { title: s.title }, endSessionQuestion(s.title, s.editors.length))
          }, 'End session')]
    }
    return []
  }

  /** @param {Session[]} sessions */
  function renderSessions (sessions) {
    const seen = new Set()
    /** @type {HTMLTableRowElement|null} */
    let previous = null
    for (const s of sessions) {
      seen.add(s.title)
      let row = rows.get(s.title)
      if (!row) {
        const tr = el('tr', { class: 'session', 'data-title': s.title })
        /** @type {Record<string, HTMLTableCellElement>} */
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
      /** @type {ChildNode|null} */
      const want = previous ? previous.nextSibling : tbody.firstChild
      if (want !== row.tr) tbody.insertBefore(row.tr, want)
      previous = row.tr
    }
    for (const [title, row] of rows) {
      if (!seen.has(title)) { row.tr.remove(); rows.delete(title) }
    }
    $('empty').style.display = sessions.length ? 'none' : 'block'
  }

  /**
   * @param {string} svgId
   * @param {string} sumId
   * @param {number[]} values per minute, oldest first
   * @param {number} start epoch seconds of the first value's minute
   * @param {number} step seconds per value
   */
  function renderChart (svgId, sumId, values, start, step) {
    const svg = $(svgId)
    const nowMinute = Math.floor(serverNow() / step) * step
    // Shift locally when minutes pass without a push: the last bar is always "this minute".
    const shift = Math.max(0, Math.round((nowMinute - (start + (values.length - 1) * step)) / step))
    const shown = values.slice(Math.min(shift, values.length)).concat(new Array(Math.min(shift, values.length)).fill(0))
    const max = Math.max(1, ...shown)
    const w = 300 / shown.length
    const nodes = []
    const base = document.createElementNS(SVG_NS, 'line')
    setAttributes(base, { x1: 0, x2: 300, y1: 59.5, y2: 59.5, stroke: '#c8ccd1', 'stroke-width': 1 })
    nodes.push(base)
    shown.forEach((v, i) => {
      if (!v) return
      const h = Math.max(2, (v / max) * 56)
      const r = document.createElementNS(SVG_NS, 'rect')
      setAttributes(r, { x: i * w + 0.5, y: 60 - h, width: Math.max(1, w - 1), height: h, fill: '#36c' })
      const t = document.createElementNS(SVG_NS, 'title')
      t.textContent = `${v} in the minute ${clock(nowMinute - (shown.length - 1 - i) * step)}`
      r.append(t)
      nodes.push(r)
    })
    svg.replaceChildren(...nodes)
    $(sumId).textContent = `(last hour: ${shown.reduce((a, b) => a + b, 0)}, peak ${Math.max(0, ...shown)}/min)`
  }

  /** @param {Snapshot} snap */
  function renderCharts (snap) {
    const h = snap.history
    renderChart('c-edits', 'c-edits-sum', h.edits, h.start, h.step_s)
    renderChart('c-saves', 'c-saves-sum', h.saves, h.start, h.step_s)
  }

  /** @param {Snapshot} snap */
  function render (snap) {
    const t = snap.totals
    $('node').textContent = snap.node
    const unsaved = t.unsaved_chars === undefined ? t.unsaved_changes : t.unsaved_chars
    $('t-pages').textContent = String(t.pages)
    $('l-pages').textContent = `${word(t.pages, 'page')} open`
    $('t-editors').textContent = String(t.editors)
    $('l-editors').textContent = word(t.editors, 'editor')
    $('t-users').textContent = plural(t.users, 'person', 'people')
    $('t-unsaved').textContent = String(unsaved)
    $('l-unsaved').textContent = `${word(unsaved, 'character')} unsaved`
    $('t-unsaved-pages').textContent = `on ${plural(t.unsaved_pages, 'page')}`
    $('l-errors').textContent = `${word(t.errors, 'page')} with errors`
    $('l-merges').textContent = `outside ${word(t.outside_merges, 'edit')} merged`
    $('l-conflicts').textContent = `${word(t.conflicts, 'conflict')} handled`
    $('t-saving').textContent = String(t.saving)
    $('t-errors').textContent = String(t.errors)
    $('tile-errors').classList.toggle('alert', t.errors > 0)
    $('t-merges').textContent = String(t.outside_merges)
    $('t-conflicts').textContent = String(t.conflicts)
    renderSessions(snap.sessions)
    renderCharts(snap)
  }

  /**
   * @param {string} selector
   * @param {string} attribute
   * @param {(value: string) => string|null} text the new text for the attribute's value; null: keep
   */
  const retext = (selector, attribute, text) => {
    for (const node of document.querySelectorAll(selector)) {
      const value = text(node.getAttribute(attribute) || '')
      if (value !== null) node.textContent = value
    }
  }

  return {
    /**
     * Show a snapshot (ignored unless it looks like one).
     * @param {unknown} data
     */
    setSnapshot (data) {
      const snap = /** @type {Snapshot|null} */ (data)
      if (!snap || !Array.isArray(snap.sessions)) return
      skew = snap.generated_at - Date.now() / 1000
      snapshot = snap
      render(snap)
    },

    /** Re-render relative times only; the data itself changes when the server pushes. */
    tick () {
      retext('[data-idle]', 'data-idle', (v) => `idle ${ago(serverNow() - Number(v))}`)
      retext('.unsaved-age[data-at]', 'data-at', (v) => v ? `oldest ${ago(serverNow() - Number(v))}` : null)
      retext('.last-time[data-ts]', 'data-ts', (v) => v ? wikiTime(v) : null)
      if (snapshot && new Date().getSeconds() === 0) renderCharts(snapshot)
    },

    /**
     * @param {string} text
     * @param {boolean} [bad]
     */
    notice (text, bad) {
      const n = $('notice')
      n.textContent = text
      n.className = 'show' + (bad ? ' bad' : '')
      clearTimeout(noticeTimer)
      noticeTimer = setTimeout(() => { n.className = '' }, 6000)
    },

    /** @param {ActionEntry} entry */
    logAction (entry) {
      actionLog.unshift(entry)
      actionLog.length = Math.min(actionLog.length, 50)
      $('actions').replaceChildren(...actionLog.map((a) => el('li', {},
        el('small', {}, clock(a.at)), ' ', el('b', {}, a.admin), ` ${a.action.replace('_', ' ')} `,
        el('i', {}, a.title), a.target ? ` (${a.target})` : '', ': ',
        a.result && a.result.ok ? 'ok' : el('span', { class: 'error' }, (a.result && a.result.error && a.result.error.message) || 'failed'))))
    },

    /**
     * The connection badge and the refusal box.
     * @param {'live'|'reconnecting…'|'refused'} state
     * @param {string} [refusal] why the server refused
     */
    connection (state, refusal) {
      const conn = $('conn')
      conn.textContent = state
      conn.className = state === 'live' ? 'live' : 'down'
      const box = $('refused')
      if (state === 'live') box.style.display = 'none'
      if (state === 'refused') {
        box.textContent = `The server refused the live connection: ${refusal || 'not allowed'}. Log in to the wiki as an administrator and reload.`
        box.style.display = 'block'
      }
    },

    /** @param {string} who */
    signedInAs (who) {
      $('whoami').textContent = who
    }
  }
}
