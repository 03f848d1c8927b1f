// @ts-check
/**
 * Integration with the wiki's own edit page (`action=edit` / `action=submit`): an "Edit together"
 * button that swaps the textarea for the collaborative editor, and back.
 *
 * Leaving collaborative mode saves first and hands the ordinary form that revision: its text in the
 * textarea and its id and timestamp as the form's base (`editRevId`, `parentRevId`, `wpEdittime`), so
 * that a classic save right after is an ordinary edit of that revision, never a conflict nor a re-merge
 * of the session's text. When the save fails the user stays in collaborative mode.
 *
 * Hooks for tests and other scripts: `document.body.dataset.collabState` is `off` outside collaborative
 * mode and the provider's state inside it; the editor's content is `.collab-editor .cm-content`;
 * the buttons are `#collab-start` and `#collab-leave`.
 *
 * @module wiki
 */

import * as Y from 'yjs'
import { CollabConnection } from './connection.js'
import { PageProvider, losesWorkOnUnload } from './page.js'
import { collabEditor } from './editor.js'
import { MAX_SAVE_SUMMARY_CHARS, TEXT_NAME } from './protocol.js'
import { wantsWatch, watchPage } from './watch.js'

/**
 * @typedef {Object} WikiEditor
 * @property {() => void} start switch to collaborative mode
 * @property {() => Promise<boolean>} leave save, then back to the textarea holding the saved revision as
 *   the form's base; false (still in collaborative mode, the editor says why) when that failed. A page
 *   that no longer syncs hands over the local text instead.
 * @property {(opts?: {copy?: boolean}) => void} stop back to the textarea at once (copying the shared
 *   text into it unless `copy: false`), the form's base untouched
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
 * @property {{getUrl?: (title: string) => string, wikiScript?: (name?: string) => string}} [util] present
 *   once `mediawiki.util` is loaded
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
 * The wiki's `api.php`.
 * @param {Mw} mw
 */
const apiUrl = (mw) => mw.util && typeof mw.util.wikiScript === 'function'
  ? mw.util.wikiScript('api')
  : `${mw.config.get('wgScriptPath') || ''}/api.php`

/** @typedef {{revid: number, timestamp: string, content: string}} WikiRevision */

/**
 * One revision's text and timestamp, read from the wiki's API with the browser's own session.
 * @param {Mw} mw
 * @param {number} revid
 * @return {Promise<WikiRevision>}
 * @throws {Error} when the wiki does not answer or has no such revision
 */
const fetchRevision = async (mw, revid) => {
  const params = new URLSearchParams({
    action: 'query', prop: 'revisions', revids: String(revid), rvprop: 'ids|timestamp|content',
    rvslots: 'main', format: 'json', formatversion: '2'
  })
  const response = await fetch(`${apiUrl(mw)}?${params}`, { credentials: 'same-origin' })
  if (!response.ok) throw new Error(`the wiki answered HTTP ${response.status}`)
  const data = await response.json()
  if (data.error) throw new Error(data.error.info || data.error.code)
  const rev = data.query?.pages?.[0]?.revisions?.[0]
  const content = rev?.slots?.main?.content
  if (!rev || rev.revid !== revid || typeof content !== 'string' || typeof rev.timestamp !== 'string') {
    throw new Error(`the wiki has no readable revision ${revid}`)
  }
  return { revid, timestamp: rev.timestamp, content }
}

/**
 * Set a field of the edit form, adding it (hidden) when the form lacks it.
 * @param {HTMLFormElement} form
 * @param {string} name
 * @param {string} value
 */
const setField = (form, name, value) => {
  const existing = form.elements.namedItem(name)
  if (existing instanceof HTMLInputElement) {
    existing.value = value
    return
  }
  const input = document.createElement('input')
  input.type = 'hidden'
  input.name = name
  input.value = value
  form.appendChild(input)
}

/**
 * Make `rev` the base of the ordinary edit form (MediaWiki 1.39's EditPage fields): its conflict check
 * compares `editRevId` and `wpEdittime` with the page's latest revision, and merges three-way from there.
 * @param {HTMLFormElement} form
 * @param {WikiRevision} rev
 */
const rebaseForm = (form, rev) => {
  setField(form, 'editRevId', String(rev.revid))
  setField(form, 'parentRevId', String(rev.revid))
  setField(form, 'wpEdittime', rev.timestamp.replace(/\D/g, '').slice(0, 14)) // TS_MW: 20240131235959
  // The textarea holds the whole page now, also when the edit page was opened for one section.
  const section = form.elements.namedItem('wpSection')
  if (section instanceof HTMLInputElement) section.value = ''
}

/**
 * `url` with its `title` query parameter set to `title` (MediaWiki's `index.php?title=...` URLs); null
 * when it has none (a short URL: left alone).
 * @param {string} url
 * @param {string} title
 */
const withTitle = (url, title) => {
  const u = new URL(url, window.location.href)
  if (!u.searchParams.has('title')) return null
  u.searchParams.set('title', title.replace(/ /g, '_'))
  return u.href
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

  let pageName = mw.config.get('wgPageName')
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
  const notice = document.createElement('p')
  notice.id = 'collab-notice'
  notice.setAttribute('role', 'status')
  notice.hidden = true
  bar.append(startButton, leaveButton, notice)
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
  let leaving = false
  /** @type {Map<string, Promise<boolean>>} titles watched (or being watched) in this tab: once each */
  const watching = new Map()

  /** @param {string} text shown in the switch bar (outside the editor: also after leaving); '' hides it */
  const say = (text) => {
    notice.textContent = text
    notice.hidden = !text
  }

  /** @return {boolean} the form's "Watch this page" box is ticked */
  const watchTicked = () => {
    const box = document.getElementById('wpWatchthis')
    return box instanceof HTMLInputElement && box.checked
  }

  /**
   * Put the page on this user's watchlist (once per title in this tab), with the browser's own session;
   * a failure is told in the editor, never thrown.
   * @param {string} title
   * @return {Promise<boolean>} false when the wiki did not watch it
   */
  const watch = (title) => {
    const known = watching.get(title)
    if (known) return known
    const expiryBox = document.getElementById('wpWatchlistExpiry')
    const expiry = expiryBox instanceof HTMLSelectElement || expiryBox instanceof HTMLInputElement
      ? expiryBox.value
      : undefined
    body.dataset.collabWatch = 'pending'
    const done = watchPage(apiUrl(mw), title, { expiry }).then(() => {
      body.dataset.collabWatch = 'watched'
      return true
    }, (err) => {
      watching.delete(title) // the next save tries again
      body.dataset.collabWatch = 'failed'
      const why = /** @type {Error} */ (err).message
      if (editor) editor.announce(`Adding the page to your watchlist failed: ${why}`)
      else say(`Adding the page to your watchlist failed: ${why}`)
      return false
    })
    watching.set(title, done)
    return done
  }

  /** @type {number|null} the revision a watch was last considered for */
  let watchedRevid = null

  /** @param {import('./page.js').PageStatus} st */
  const onStatus = (st) => {
    body.dataset.collabState = st.state
    body.dataset.collabUnsaved = String(st.unsaved)
    // A revision with this user's text was saved (by any editor's Save or by the server's timers).
    if (st.state === 'saved' && st.saved && st.saved.revid !== watchedRevid && provider) {
      watchedRevid = st.saved.revid
      if (wantsWatch(st.saved, mw.config.get('wgUserName'), watchTicked())) watch(provider.title)
    }
  }

  /**
   * Edits the server was never sent (offline, or after it stopped syncing the page) live only in this
   * tab, as do our unsaved edits of a page deleted meanwhile: warn before losing them. (Whatever the
   * server has, it saves, also after the last editor left: no warning for that.)
   * @param {BeforeUnloadEvent} e
   */
  const onBeforeUnload = (e) => {
    if (provider && losesWorkOnUnload(provider.status)) {
      e.preventDefault()
      e.returnValue = ''
    }
  }

  /** @param {SubmitEvent} e */
  const onSubmit = (e) => {
    if (!provider) return
    const submitter = /** @type {HTMLElement|null} */ (e.submitter)
    if (submitter && submitter.id !== 'wpSave') {
      // Preview, "Show changes": leave collaborative mode (saving first), then let the form do it.
      e.preventDefault()
      leave().then((left) => {
        if (left && submitter instanceof HTMLInputElement) form.requestSubmit(submitter)
      })
      return
    }
    e.preventDefault()
    save()
  }

  /**
   * The edit form's Summary box (`#wpSummary`, cut to what the server accepts) and "minor edit" box
   * (`#wpMinoredit`), for the revision of an explicit Save.
   * @return {import('./protocol.js').SaveOptions}
   */
  const formSaveOptions = () => {
    const summaryBox = /** @type {HTMLInputElement|null} */ (document.getElementById('wpSummary'))
    const minorBox = /** @type {HTMLInputElement|null} */ (document.getElementById('wpMinoredit'))
    return {
      summary: Array.from((summaryBox?.value || '').trim()).slice(0, MAX_SAVE_SUMMARY_CHARS).join(''),
      minor: Boolean(minorBox?.checked)
    }
  }

  const save = async () => {
    if (!provider || saving) return null
    saving = true
    const saveButton = /** @type {HTMLInputElement|null} */ (document.getElementById('wpSave'))
    if (saveButton) saveButton.disabled = true
    const ack = await provider.save(formSaveOptions())
    saving = false
    if (saveButton) saveButton.disabled = false
    if (ack.ok && provider) {
      const title = provider.title
      // The editor's own Save honours the box as the classic editor does, also when nothing changed;
      // the watch request must finish before the page is left; when it fails the editor stays, saying so.
      const watched = !(watchTicked() && mw.config.get('wgUserName')) || await watch(title)
      if (!provider || !watched) return ack
      teardown()
      window.location.href = pageUrl(mw, title)
    } else if (!ack.ok && editor) {
      editor.announce(`Saving failed: ${ack.error.message}`)
    }
    return ack
  }

  /**
   * Stay in collaborative mode after a failed attempt to leave it: say why, editable again.
   * @param {string} why
   */
  const stayAfter = (why) => {
    if (!editor) return
    editor.setReadonly(false)
    editor.announce(`Still in collaborative mode: ${why}`)
  }

  /**
   * The page no longer syncs (removed, disconnected): hand the local text to the ordinary form, based
   * on the revision that text started from when the wiki still has it, and say it is not saved.
   */
  const leaveUnsynced = async () => {
    if (!provider || !doc) return
    const text = doc.getText(TEXT_NAME).toString()
    const revid = provider.revid
    const why = provider.message || 'the page no longer syncs'
    let base = 'the revision this edit page was opened at'
    if (revid !== null) {
      try {
        rebaseForm(form, await fetchRevision(mw, revid))
        base = `revision ${revid}`
      } catch (err) {
        base += ` (revision ${revid} could not be read: ${/** @type {Error} */ (err).message})`
      }
    }
    setTextareaContents(textarea, text)
    stop({ copy: false })
    say(`Collaborative editing ended (${why}). The text below is your copy, NOT saved; it is compared ` +
      `with ${base} when you save it.`)
  }

  /** @return {Promise<boolean>} */
  const leave = async () => {
    if (!provider || !editor || leaving || saving) return false
    leaving = true
    try {
      if (provider.closed) {
        await leaveUnsynced()
        return true
      }
      editor.setReadonly(true) // what is typed from now on would not be in the revision handed over
      editor.announce('Saving before leaving collaborative mode…')
      const ack = await provider.save()
      if (!provider) return false
      if (!ack.ok) {
        stayAfter(`saving failed (${ack.error.message}); nothing was lost`)
        return false
      }
      const revid = typeof ack.revid === 'number' ? ack.revid : provider.revid
      if (revid === null) { // a page that does not exist yet, and nothing to save
        stop({ copy: true })
        return true
      }
      /** @type {WikiRevision} */
      let rev
      try {
        rev = await fetchRevision(mw, revid)
      } catch (err) {
        stayAfter(`the text was saved as revision ${revid}, but reading it back from the wiki failed ` +
          `(${/** @type {Error} */ (err).message}); try again`)
        return false
      }
      if (!provider) return false
      setTextareaContents(textarea, rev.content)
      rebaseForm(form, rev)
      stop({ copy: false })
      say(`Saved as revision ${revid}: the ordinary editor continues from it.`)
      return true
    } finally {
      leaving = false
    }
  }

  /**
   * The wiki moved the page: the edit form, the address bar and the page view after a save follow it.
   * @param {{from: string, title: string}} move
   */
  const onMoved = ({ title }) => {
    pageName = title
    const action = withTitle(form.action, title)
    if (action) form.action = action
    const here = withTitle(window.location.href, title)
    if (here) window.history.replaceState(window.history.state, '', here)
  }

  const teardown = () => {
    form.removeEventListener('submit', onSubmit, true)
    window.removeEventListener('beforeunload', onBeforeUnload)
    if (provider) provider.off('status', onStatus)
    if (provider) provider.off('moved', onMoved)
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
    provider.on('moved', onMoved)
    say('')
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
  leaveButton.addEventListener('click', () => { leave() })

  current = {
    start,
    leave,
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
