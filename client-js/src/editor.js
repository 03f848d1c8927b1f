// @ts-check
/**
 * The collaborative editor: a CodeMirror 6 view bound to a Y.Text with y-codemirror.next, plus a small
 * UI around it (status line, participants, announcements).
 *
 * `collabExtensions()` is the editor glue as an array of CodeMirror extensions (use it in your own
 * EditorView); `collabEditor()` builds the whole widget.
 *
 * @module editor
 */

import * as Y from 'yjs'
import { EditorState, Compartment } from '@codemirror/state'
import {
  EditorView, keymap, highlightSpecialChars, drawSelection, dropCursor, highlightActiveLine,
  rectangularSelection, crosshairCursor
} from '@codemirror/view'
import { defaultKeymap } from '@codemirror/commands'
import { searchKeymap, highlightSelectionMatches } from '@codemirror/search'
import { bracketMatching } from '@codemirror/language'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'

import { wikitext } from './wikitext.js'
import { TEXT_NAME } from './protocol.js'
import { userInfo } from './colors.js'

/** @typedef {import('./page.js').PageProvider} PageProvider */
/** @typedef {import('./page.js').PageStatus} PageStatus */
/** @typedef {import('y-protocols/awareness').Awareness} Awareness */

const STYLE_ID = 'mediawiki-collab-style'
const CSS = `
.collab-root { margin: 0.5em 0; font-family: sans-serif; }
.collab-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5em 1em; padding: 0.3em 0.5em;
  background: #f8f9fa; border: 1px solid #a2a9b1; border-bottom: none; font-size: 0.9em; }
.collab-status::before { content: ''; display: inline-block; width: 0.6em; height: 0.6em; border-radius: 50%;
  margin-right: 0.4em; background: #a2a9b1; vertical-align: middle; }
.collab-root[data-state="live"] .collab-status::before, .collab-root[data-state="saved"] .collab-status::before { background: #14866d; }
.collab-root[data-state="saving"] .collab-status::before, .collab-root[data-state="connecting"] .collab-status::before { background: #fc3; }
.collab-root[data-state="offline"] .collab-status::before, .collab-root[data-state="error"] .collab-status::before,
.collab-root[data-state="removed"] .collab-status::before { background: #d33; }
.collab-root[data-state="error"] .collab-status, .collab-root[data-state="removed"] .collab-status { color: #d33; }
.collab-participants { list-style: none; margin: 0 0 0 auto; padding: 0; display: flex; flex-wrap: wrap; gap: 0.3em; }
.collab-participant { margin: 0; padding: 0 0.5em; border-radius: 1em; color: #fff; background: var(--collab-color, #72777d);
  white-space: nowrap; }
.collab-participant.collab-self { outline: 2px solid #202122; }
.collab-announcements { font-size: 0.9em; border: 1px solid #a2a9b1; border-bottom: none; background: #eaf3ff; }
.collab-announcements:empty { display: none; }
.collab-announcement { margin: 0; padding: 0.2em 0.5em; }
.collab-editor { border: 1px solid #a2a9b1; background: #fff; }
.collab-closed { font-size: 0.9em; border: 1px solid #d33; border-bottom: none; background: #fee7e6; padding: 0.3em 0.5em; }
.collab-closed[hidden] { display: none; }
.collab-closed p { margin: 0 0 0.3em; }
.collab-copy-text { display: block; width: 100%; box-sizing: border-box; margin-top: 0.3em; font-family: monospace; }
`

/** @param {Document} doc */
const injectStyle = (doc) => {
  if (doc.getElementById(STYLE_ID)) return
  const style = doc.createElement('style')
  style.id = STYLE_ID
  style.textContent = CSS
  doc.head.appendChild(style)
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {Document} doc
 * @param {K} tag
 * @param {string} className
 * @param {string} [text]
 * @return {HTMLElementTagNameMap[K]}
 */
const el = (doc, tag, className, text) => {
  const e = doc.createElement(tag)
  e.className = className
  if (text !== undefined) e.textContent = text
  return e
}

/**
 * @param {number} n
 * @param {string} one
 * @param {string} many
 */
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`

/**
 * The text of the status line for a provider status (without the diff link).
 * @param {PageStatus} st
 * @return {string}
 */
export const statusText = (st) => {
  let text
  switch (st.state) {
    case 'connecting': text = 'connecting…'; break
    case 'live': text = 'live'; break
    case 'offline':
      text = `offline — ${plural(st.unsaved, 'unsaved change', 'unsaved changes')}`
      if (st.message) text += `; ${st.message}`
      break
    case 'saving': text = 'saving…'; break
    case 'saved': text = st.revid !== null ? `saved as revision ${st.revid}` : 'saved'; break
    case 'error': text = `error: ${st.message || st.error?.message || 'unknown error'}`; break
    case 'removed': text = `closed by the server: ${st.message || 'no reason given'}`; break
    default: text = st.state
  }
  if (st.readonly && st.state !== 'error' && st.state !== 'removed') {
    const reason = st.readonlyReason
    text += !reason ? ' (read-only)' : /read-only/i.test(reason) ? ` (${reason})` : ` (read-only: ${reason})`
  }
  return text
}

/**
 * CodeMirror extensions for a collaborative wikitext editor: y-codemirror.next binding (remote cursors
 * from awareness, undo/redo of one's own edits only), wikitext highlighting, line wrapping.
 * @param {Object} opts
 * @param {Y.Text} opts.ytext
 * @param {Awareness} [opts.awareness]
 * @param {Y.UndoManager} opts.undoManager
 * @return {import('@codemirror/state').Extension[]}
 */
export const collabExtensions = ({ ytext, awareness, undoManager }) => [
  // yUndoManagerKeymap first: Mod-z must reach the Y.UndoManager, not CodeMirror's own history.
  keymap.of([...yUndoManagerKeymap, ...defaultKeymap, ...searchKeymap]),
  highlightSpecialChars(),
  drawSelection(),
  dropCursor(),
  EditorState.allowMultipleSelections.of(true),
  rectangularSelection(),
  crosshairCursor(),
  highlightActiveLine(),
  highlightSelectionMatches(),
  bracketMatching(),
  EditorView.lineWrapping,
  wikitext(),
  yCollab(ytext, awareness, { undoManager }),
  EditorView.theme({
    '&': { maxHeight: '70vh', fontSize: '14px' },
    '.cm-scroller': { overflow: 'auto', fontFamily: 'monospace', lineHeight: '1.5' },
    '.cm-content, .cm-gutter': { minHeight: '20em' },
    // Room above the first line for a remote cursor's name label.
    '.cm-content': { paddingTop: '1em' },
    // y-codemirror.next shows a remote cursor's name only while the mouse is over its 1-pixel caret:
    // show it always, so that everyone can tell who is typing where.
    '.cm-ySelectionInfo': { opacity: 1 },
    '&.cm-focused': { outline: '2px solid #36c' }
  })
]

/**
 * @typedef {Object} CollabEditor
 * @property {EditorView} view
 * @property {HTMLElement} element the widget's root element
 * @property {Y.UndoManager} undoManager
 * @property {(readonly: boolean) => void} setReadonly
 * @property {(text: string) => void} announce add a line to the announcement area
 * @property {() => string} localText the text as this browser has it (what a closed editor still holds)
 * @property {() => void} destroy remove the widget and every listener it added (the provider is not destroyed)
 */

/**
 * Build the collaborative editor widget inside `parent`.
 * @param {Object} opts
 * @param {HTMLElement} opts.parent
 * @param {PageProvider} opts.provider
 * @param {Y.Doc} [opts.ydoc] defaults to `provider.doc`
 * @param {Y.Text} [opts.ytext] defaults to `ydoc.getText('wikitext')`
 * @param {Awareness} [opts.awareness] defaults to `provider.awareness`
 * @param {boolean} [opts.readonly] force read-only (otherwise follows the server's `readonly`)
 * @param {string} [opts.wikiBase] the wiki's base URL: enables "diff" links (`<wikiBase>/index.php?diff=N`)
 * @param {(revid: number) => string} [opts.diffUrl] builds the diff link instead of `wikiBase`
 * @param {number} [opts.maxAnnouncements] announcement lines kept (default 5)
 * @return {CollabEditor}
 */
export const collabEditor = ({
  parent, provider, ydoc, ytext, awareness, readonly = false, wikiBase, diffUrl, maxAnnouncements = 5
}) => {
  const doc = parent.ownerDocument
  ydoc = ydoc || provider.doc
  ytext = ytext || ydoc.getText(TEXT_NAME)
  awareness = awareness || provider.awareness
  injectStyle(doc)
  /** @param {number} revid */
  const makeDiffUrl = (revid) => diffUrl
    ? diffUrl(revid)
    : wikiBase ? `${wikiBase.replace(/\/+$/, '')}/index.php?diff=${revid}` : null

  const root = el(doc, 'div', 'collab-root')
  const bar = el(doc, 'div', 'collab-bar')
  const status = el(doc, 'span', 'collab-status')
  status.setAttribute('role', 'status')
  const participants = el(doc, 'ul', 'collab-participants')
  participants.setAttribute('aria-label', 'People editing this page')
  const announcements = el(doc, 'div', 'collab-announcements')
  announcements.setAttribute('aria-live', 'polite')
  const wrapper = el(doc, 'div', 'collab-editor')
  // Shown once the page no longer syncs: why, and the local text to copy (nothing of it reaches anyone).
  const closedPanel = el(doc, 'div', 'collab-closed')
  closedPanel.hidden = true
  closedPanel.setAttribute('role', 'alert')
  const closedMessage = el(doc, 'p', 'collab-closed-message')
  const copyButton = el(doc, 'button', 'collab-copy', 'Copy your text')
  copyButton.type = 'button'
  const copyText = el(doc, 'textarea', 'collab-copy-text')
  copyText.readOnly = true
  copyText.rows = 6
  copyText.setAttribute('aria-label', 'Your copy of the text')
  closedPanel.append(closedMessage, copyButton, copyText)
  bar.append(status, participants)
  root.append(bar, closedPanel, announcements, wrapper)
  parent.appendChild(root)

  const undoManager = new Y.UndoManager(ytext, { trackedOrigins: new Set() })
  const readonlyCompartment = new Compartment()
  /** @param {boolean} ro */
  const readonlyExtension = (ro) => [EditorState.readOnly.of(ro), EditorView.editable.of(!ro)]
  let currentReadonly = readonly || provider.readonly
  const view = new EditorView({
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        collabExtensions({ ytext, awareness, undoManager }),
        readonlyCompartment.of(readonlyExtension(currentReadonly))
      ]
    }),
    parent: wrapper
  })

  /** @param {boolean} ro */
  const setReadonly = (ro) => {
    if (ro === currentReadonly) return
    currentReadonly = ro
    view.dispatch({ effects: readonlyCompartment.reconfigure(readonlyExtension(ro)) })
  }

  /** @param {PageStatus} st */
  const renderClosed = (st) => {
    if (!st.closed) {
      closedPanel.hidden = true
      return
    }
    const reason = st.message || 'the server stopped syncing this page'
    const unsynced = st.unsynced > 0 ? ` ${plural(st.unsynced, 'change', 'changes')} of yours never reached the server.` : ''
    const deleted = st.closedCode === 'deleted' ? ' The page was deleted: your text is not saved in the wiki.' : ''
    closedMessage.textContent = `This editor is read-only now: ${reason}.${deleted}${unsynced} ` +
      'Your copy of the text is below: copy it before you leave this page.'
    if (closedPanel.hidden) copyText.value = ytext.toString()
    closedPanel.hidden = false
  }

  copyButton.addEventListener('click', () => {
    copyText.value = ytext.toString()
    copyText.focus()
    copyText.select()
    const clipboard = doc.defaultView?.navigator.clipboard
    const copied = () => { copyButton.textContent = 'Copied' }
    // The clipboard API needs a secure context and permission; selecting the text lets Ctrl+C do the rest.
    if (clipboard) {
      clipboard.writeText(copyText.value).then(copied, () => announce('Select the text below and press Ctrl+C to copy it.'))
    } else {
      announce('Select the text below and press Ctrl+C to copy it.')
    }
  })

  /** @param {PageStatus} st */
  const renderStatus = (st) => {
    renderClosed(st)
    root.dataset.state = st.state
    status.textContent = statusText(st)
    if (st.state === 'saved' && st.revid !== null) {
      const href = makeDiffUrl(st.revid)
      if (href) {
        const a = el(doc, 'a', 'collab-diff', 'diff')
        a.href = href
        a.target = '_blank'
        a.rel = 'noopener'
        status.append(' (', a, ')')
      }
    }
    setReadonly(readonly || st.readonly || st.closed)
  }

  /**
   * @param {string} text
   * @param {number|null} [revid] adds a diff link
   */
  const announce = (text, revid = null) => {
    const line = el(doc, 'p', 'collab-announcement', text)
    const href = revid !== null ? makeDiffUrl(revid) : null
    if (href) {
      const a = el(doc, 'a', 'collab-diff', 'diff')
      a.href = href
      a.target = '_blank'
      a.rel = 'noopener'
      line.append(' (', a, ')')
    }
    announcements.prepend(line)
    while (announcements.childElementCount > maxAnnouncements) announcements.lastElementChild?.remove()
  }

  /** @param {import('./protocol.js').ServerStatus} st */
  const onServerStatus = (st) => {
    const revid = typeof st.revid === 'number' ? st.revid : null
    if (st.state === 'merged') {
      const who = st.user || 'someone'
      announce(`${who} edited the page outside this session; their changes were merged` +
        (revid !== null ? ` (revision ${revid}).` : '.'), revid)
    } else if (st.state === 'saved' && revid !== null) {
      const coauthors = Array.isArray(st.coauthors) && st.coauthors.length ? ` by ${st.coauthors.join(', ')}` : ''
      announce(`Saved as revision ${revid}${coauthors}.`, revid)
    } else if (st.state === 'readonly') {
      announce(st.message || 'You may not edit this page.')
    } else if (st.state === 'removed') {
      announce(`The server closed this page${st.message || st.reason ? `: ${st.message || st.reason}` : '.'}`)
    } else if (st.state === 'moved' && typeof st.title === 'string') {
      announce(`This page was moved to “${st.title}”: you keep editing it there.`)
    }
  }

  const renderParticipants = () => {
    /** @type {Map<string, {name: string, color: string, count: number, self: boolean}>} */
    const people = new Map()
    for (const [clientID, state] of awareness.getStates()) {
      if (!state || !state.user) continue
      const user = userInfo(state.user)
      const self = clientID === awareness.clientID
      const key = `${user.name}\u0000${user.color}`
      const entry = people.get(key)
      if (entry) {
        entry.count++
        entry.self = entry.self || self
      } else {
        people.set(key, { name: user.name, color: user.color, count: 1, self })
      }
    }
    participants.replaceChildren(...[...people.values()].map((p) => {
      const li = el(doc, 'li', p.self ? 'collab-participant collab-self' : 'collab-participant',
        p.name + (p.self ? ' (you)' : '') + (p.count > 1 ? ` ×${p.count}` : ''))
      li.style.setProperty('--collab-color', p.color)
      li.dataset.name = p.name
      return li
    }))
  }

  /** @param {import('./protocol.js').ProtocolError} err */
  const onError = (err) => announce(`Error: ${err.message}`)

  provider.on('status', renderStatus)
  provider.on('server-status', onServerStatus)
  provider.on('error', onError)
  awareness.on('change', renderParticipants)
  renderStatus(provider.status)
  renderParticipants()

  let destroyed = false
  return {
    view,
    element: root,
    undoManager,
    setReadonly: (ro) => {
      readonly = ro
      setReadonly(ro || provider.readonly || provider.closed)
    },
    localText: () => ytext.toString(),
    announce: (text) => announce(text),
    destroy: () => {
      if (destroyed) return
      destroyed = true
      provider.off('status', renderStatus)
      provider.off('server-status', onServerStatus)
      provider.off('error', onError)
      awareness.off('change', renderParticipants)
      view.destroy()
      undoManager.destroy()
      root.remove()
    }
  }
}
