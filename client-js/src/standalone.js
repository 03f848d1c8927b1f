// @ts-check
/**
 * Open one page in a collaborative editor outside the wiki (the server's own page at `/`, examples,
 * tests): the glue of Y.Doc + PageProvider + collabEditor in one call.
 *
 * @module standalone
 */

import * as Y from 'yjs'
import { CollabConnection } from './connection.js'
import { PageProvider } from './page.js'
import { collabEditor } from './editor.js'

/**
 * @typedef {Object} OpenPage
 * @property {Y.Doc} doc
 * @property {PageProvider} provider
 * @property {import('./editor.js').CollabEditor} editor
 * @property {CollabConnection} connection
 * @property {() => void} close destroy the editor, the provider, the doc (and the connection if created here)
 */

/**
 * @param {Object} opts
 * @param {string} opts.title
 * @param {HTMLElement} opts.parent
 * @param {string} [opts.serverUrl] defaults to this page's origin
 * @param {CollabConnection} [opts.connection] share a connection between several pages
 * @param {{name?: string, color?: string, colorLight?: string}} [opts.user]
 * @param {string} [opts.wikiBase] enables diff links
 * @param {boolean} [opts.readonly]
 * @return {OpenPage}
 */
export const openPage = ({ title, parent, serverUrl, connection, user, wikiBase, readonly }) => {
  const ownsConnection = !connection
  const conn = connection || new CollabConnection(serverUrl || window.location.origin)
  const doc = new Y.Doc()
  const provider = new PageProvider(conn, title, doc, { user })
  const editor = collabEditor({ parent, provider, wikiBase, readonly })
  return {
    doc,
    provider,
    editor,
    connection: conn,
    close: () => {
      editor.destroy()
      provider.destroy()
      doc.destroy()
      if (ownsConnection) conn.destroy()
    }
  }
}
