// @ts-check
/**
 * The browser bundle's entry point: `collab/static/collab.js` exposes everything below as
 * `window.MediaWikiCollab` (an IIFE with that global name, built by `build.mjs`).
 *
 * @module index
 */

import * as Y from 'yjs'

export { Y }
export { Awareness } from 'y-protocols/awareness'
export * as protocol from './protocol.js'
export { CollabConnection, socketTarget } from './connection.js'
export { PageProvider } from './page.js'
export { collabEditor, collabExtensions, statusText } from './editor.js'
export { startWikiEditor, currentWikiEditor } from './wiki.js'
export { openPage } from './standalone.js'
export { wikitext, wikitextLanguage, wikitextHighlightStyle } from './wikitext.js'
export { colorsForName, userInfo } from './colors.js'

/** The client's version (client-js/package.json). */
export const version = '0.1.0'
