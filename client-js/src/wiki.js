// @ts-check
/**
 * Integration with the wiki's own edit page (`action=edit` / `action=submit`): an "Edit together"
 * button that swaps the textarea for the collaborative editor, and back.
 *
 * Hooks for tests and other scripts: `document.body.dataset.collabState` is `off` outside collaborative
 * mode and the provider's state inside it; the editor's content is `.collab-editor .cm-content`;
 * the buttons are `#collab-start` and `#collab-leave`.
 *
 * @module wiki
 */

import * as Y from 'yjs'
import { CollabConnection } from './connection.js'
import { PageProvider } from './page.js'
import { collabEditor } from './editor.js'
import { TEXT_NAME } from './protocol.js'

/**
 * @typedef {Object} WikiEditor
 * @property {() => void} start switch to collaborative mode
 * @property {(opts?: {copy?: boolean}) => void} stop back to the textarea (copying the shared text into it)
 * @property {() => Promise<any>} save save through the server, then go to the page view
 * @property {() => boolean} isActive
 * @property {() => PageProvider|null} provider
 * @property {() => import('./editor.js').CollabEditor|null} editor
 */

/** @type {WikiEditor|null} */
let current = null

/** The controller installed on this page by {@link startWikiEditor}, if any. */
export const currentWikiEditor = () => current

/**
 * The part of MediaWiki's `mw` global used here (the wiki ships no types for it).
 * @typedef {Object} Mw
 * @property {{get: (key: string) => any}} config site and page settings (`wgAction`, `wgPageName`, ...)
 * @property {{getUrl?: (title: string) => string}} [util] present once `mediawiki.util` is loaded
 */

/**
 * The part of the wiki's jQuery used here: the `jquery.textSelection` plugin, when loaded.
 * @typedef {((node: Element) => {textSelection: (command: string, text: string) => void}) & {fn?: {textSelection?: unknown}}} JQueryLike
 */

/** @type {Window & {mw?: Mw, jQuery?: JQueryLike}} */
const wikiWindow = window

/** @return {Mw|undefined} MediaWiki's `mw` global, if present */
const getMw = () => wikiWindow.mw

/** A stable name for an anonymous user in this browser tab. */
const anonymousName = () => {
  const key = 'mediawiki-collab-anon'
  let id = null
  try {
    id = window.sessionStorage.getItem(key)
  } catch (e) { /* storage disabled: a new id per page load is fine */ }
  if (!id) {
    id = Math.random().toString(16).slice(2, 6)
    try {
      window.sessionStorage.setItem(key, id)
    } catch (e) { /* see above */ }
  }
  return `Anonymous ${id}`
}

/**
 * Put text into the wiki's textarea the way other editors expect (jquery.textSelection also reaches
 * editors that replaced the textarea), and let listeners (edit warning, preview) know.
 * @param {HTMLTextAreaElement} textarea
 * @param {string} text
 */
const setTextareaContents = (textarea, text) => {
  const $ = wikiWindow.jQuery
  if ($ && $.fn && $.fn.textSelection) {
    $(textarea).textSelection('setContents', text)
  } else {
    textarea.value = text
  }
  textarea.dispatchEvent(new Event('input', { bubbles: true }))
  textarea.dispatchEvent(new Event('change', { bubbles: true }))
}

/**
 * The URL of a page's view.
 * @param {Mw} mw
 * @param {string} title
 */
const pageUrl = (mw, title) => {
  if (mw.util && typeof mw.util.getUrl === 'function') return mw.util.getUrl(title)
  const path = mw.config.get('wgArticlePath') || '/index.php?title=$1'
  return path.replace('$1', encodeURIComponent(title.replace(/ /g, '_')).replace(/%2F/g, '/').replace(/%3A/g, ':'))
}

/**
 * Install the "Edit together" button on the wiki's edit page.
 * @param {Object} opts
 * @param {string} opts.serverUrl the collab server's base URL
 * @param {boolean} [opts.open] open collaborative mode now (default: when the URL has `collab=1`)
 * @return {WikiEditor|null} null when this is not an edit page with an edit form
 */
export const startWikiEditor = ({ serverUrl, open } = { serverUrl: '' }) => {
  if (current) return current
  const mw = getMw()
  const form = /** @type {HTMLFormElement|null} */ (document.getElementById('editform'))
  const textarea = /** @type {HTMLTextAreaElement|null} */ (document.getElementById('wpTextbox1'))
  if (!mw || !form || !textarea) return null
  const action = mw.config.get('wgAction')
  if (action !== 'edit' && action !== 'submit') return null
  if (!serverUrl) throw new Error('startWikiEditor: serverUrl is required')

  const pageName = mw.config.get('wgPageName')
  const userName = mw.config.get('wgUserName') || anonymousName()
  const body = document.body
  const diffUrl = (/** @type {number} */ revid) => `${mw.config.get('wgScript') || '/index.php'}?diff=${revid}`

  // The switch bar and the editor's container go right before the textarea (or the WikiEditor UI
  // wrapping it); WikiEditor may wrap the textarea later, leaving them outside its wrapper.
  const anchor = textarea.closest('.wikiEditor-ui') || textarea
  const bar = document.createElement('div')
  bar.className = 'collab-switch'
  bar.style.margin = '0.5em 0'
  const startButton = document.createElement('button')
  startButton.type = 'button'
  startButton.id = 'collab-start'
  startButton.className = 'mw-ui-button cdx-button'
  startButton.textContent = 'Edit together'
  startButton.title = 'Edit this page in real time with everyone else who has it open'
  const leaveButton = document.createElement('button')
  leaveButton.type = 'button'
  leaveButton.id = 'collab-leave'
  leaveButton.className = 'mw-ui-button cdx-button'
  leaveButton.textContent = 'Leave collaborative mode'
  leaveButton.hidden = true
  bar.append(startButton, leaveButton)
  const container = document.createElement('div')
  container.id = 'collab-container'
  anchor.before(bar, container)
  body.dataset.collabState = 'off'

  /** @type {CollabConnection|null} */
  let connection = null
  /** @type {PageProvider|null} */
  let provider = null
  /** @type {import('./editor.js').CollabEditor|null} */
  let editor = null
  /** @type {Y.Doc|null} */
  let doc = null
  /** @type {HTMLElement[]} */
  let hidden = []
  let saving = false

  /** @param {import('./page.js').PageStatus} st */
  const onStatus = (st) => {
    body.dataset.collabState = st.state
    body.dataset.collabUnsaved = String(st.unsaved)
  }

  /**
   * Edits made offline live only in this tab until the connection returns: warn before losing them.
   * (Online, the server has every edit and saves it after the last editor leaves.)
   * @param {BeforeUnloadEvent} e
   */
  const onBeforeUnload = (e) => {
    if (provider && provider.state === 'offline' && provider.unsaved > 0) {
      e.preventDefault()
      e.returnValue = ''
    }
  }

  /** @param {SubmitEvent} e */
  const onSubmit = (e) => {
    if (!provider) return
    const submitter = /** @type {HTMLElement|null} */ (e.submitter)
    if (submitter && submitter.id !== 'wpSave') {
      // Preview, "Show changes": hand the shared text to the ordinary form and leave collaborative mode.
      stop({ copy: true })
      return
    }
    e.preventDefault()
    save()
  }

  const save = async () => {
    if (!provider || saving) return null
    saving = true
    const saveButton = /** @type {HTMLInputElement|null} */ (document.getElementById('wpSave'))
    if (saveButton) saveButton.disabled = true
    const ack = await provider.save()
    saving = false
    if (saveButton) saveButton.disabled = false
    if (ack.ok && provider) {
      const title = provider.title
      teardown()
      window.location.href = pageUrl(mw, title)
    } else if (!ack.ok && editor) {
      editor.announce(`Saving failed: ${ack.error.message}`)
    }
    return ack
  }

  const teardown = () => {
    form.removeEventListener('submit', onSubmit, true)
    window.removeEventListener('beforeunload', onBeforeUnload)
    if (provider) provider.off('status', onStatus)
    if (editor) editor.destroy()
    if (provider) provider.destroy()
    if (connection) connection.destroy()
    if (doc) doc.destroy()
    editor = null
    provider = null
    connection = null
    doc = null
  }

  const start = () => {
    if (provider) return
    const typedBefore = textarea.value !== textarea.defaultValue
    doc = new Y.Doc()
    connection = new CollabConnection(serverUrl)
    provider = new PageProvider(connection, pageName, doc, { user: { name: userName } })
    provider.on('status', onStatus)
    editor = collabEditor({ parent: container, provider, diffUrl })
    onStatus(provider.status)
    hidden = [/** @type {HTMLElement} */ (textarea.closest('.wikiEditor-ui') || textarea)]
    for (const e of hidden) e.style.display = 'none'
    startButton.hidden = true
    leaveButton.hidden = false
    form.addEventListener('submit', onSubmit, true)
    window.addEventListener('beforeunload', onBeforeUnload)
    if (typedBefore) {
      editor.announce('The changes you made in the ordinary editor are not part of the shared text; ' +
        'leaving collaborative mode replaces them with the shared text.')
    }
    editor.view.focus()
  }

  /** @param {{copy?: boolean}} [opts] */
  const stop = ({ copy = true } = {}) => {
    if (!provider || !doc) return
    if (copy) setTextareaContents(textarea, doc.getText(TEXT_NAME).toString())
    teardown()
    for (const e of hidden) e.style.display = ''
    hidden = []
    startButton.hidden = false
    leaveButton.hidden = true
    body.dataset.collabState = 'off'
    delete body.dataset.collabUnsaved
  }

  startButton.addEventListener('click', () => start())
  leaveButton.addEventListener('click', () => stop({ copy: true }))

  current = {
    start,
    stop,
    save,
    isActive: () => provider !== null,
    provider: () => provider,
    editor: () => editor
  }
  const wanted = open !== undefined ? open : new URLSearchParams(window.location.search).get('collab') === '1'
  if (wanted) start()
  return current
}
