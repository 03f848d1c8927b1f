// @ts-check
/*
 * MediaWiki Collab loader: the one script a wiki admin installs (as a gadget, or from
 * MediaWiki:Common.js with mw.loader.load('https://COLLAB-SERVER/static/loader.js')).
 *
 * On the edit page (action=edit or action=submit) it loads the client bundle from the same server
 * (<server>/static/collab.js) and calls MediaWikiCollab.startWikiEditor({serverUrl: <server>}).
 * Anywhere else it does nothing. Served as-is (not bundled): plain ES5, so ResourceLoader accepts it
 * as a gadget too.
 *
 * The server's base URL comes from, in order:
 *   1. window.MediaWikiCollabServer or mw.config 'wgCollabServer' (needed when the loader's code is
 *      pasted into a gadget, where no <script src> points at the server);
 *   2. document.currentScript.src (null when run by mw.loader.load's evaluation);
 *   3. the first <script src> ending in /static/loader.js.
 */
(function () {
  'use strict';

  var LOADER_PATH = /\/static\/loader\.js(?:[?#].*)?$/;

  /** @typedef {{config: {get: (key: string) => any}, loader?: {using?: (m: string[]) => {then: Function}}}} Mw */
  /** @typedef {{startWikiEditor: Function}} Collab */
  /** @type {Window & {mw?: Mw, MediaWikiCollabServer?: unknown, MediaWikiCollab?: Collab, __mediaWikiCollabLoaded?: boolean}} */
  var win = window;

  function serverFromScripts() {
    var current = /** @type {HTMLScriptElement|null} */ (document.currentScript);
    if (current && current.src && LOADER_PATH.test(current.src)) {
      return current.src.replace(LOADER_PATH, '');
    }
    var scripts = document.scripts || document.getElementsByTagName('script');
    for (var i = 0; i < scripts.length; i++) {
      if (scripts[i].src && LOADER_PATH.test(scripts[i].src)) {
        return scripts[i].src.replace(LOADER_PATH, '');
      }
    }
    return null;
  }

  function configuredServer() {
    var mw = win.mw;
    if (typeof win.MediaWikiCollabServer === 'string' && win.MediaWikiCollabServer) {
      return win.MediaWikiCollabServer;
    }
    if (mw && mw.config && mw.config.get('wgCollabServer')) {
      return mw.config.get('wgCollabServer');
    }
    return null;
  }

  // Computed now: document.currentScript is only set while this script first runs.
  var serverUrl = configuredServer() || serverFromScripts();
  if (serverUrl) {
    serverUrl = serverUrl.replace(/\/+$/, '');
  }

  function isEditPage() {
    var mw = win.mw;
    if (!mw || !mw.config) {
      return false;
    }
    var action = mw.config.get('wgAction');
    return action === 'edit' || action === 'submit';
  }

  function start() {
    try {
      /** @type {Collab} */ (win.MediaWikiCollab).startWikiEditor({ serverUrl: serverUrl }); // set by collab.js
    } catch (e) {
      if (window.console) {
        window.console.error('MediaWiki Collab: could not start', e);
      }
    }
  }

  function loadBundle() {
    if (win.MediaWikiCollab) {
      start();
      return;
    }
    var script = document.createElement('script');
    script.src = serverUrl + '/static/collab.js';
    script.async = true;
    script.onload = start;
    script.onerror = function () {
      if (window.console) {
        window.console.warn('MediaWiki Collab: could not load ' + script.src);
      }
    };
    document.head.appendChild(script);
  }

  function whenReady() {
    if (win.__mediaWikiCollabLoaded) {
      return;
    }
    win.__mediaWikiCollabLoaded = true;
    var go = function () {
      // mw.util builds the page URL after a save; the edit page has it, gadgets may not yet.
      var mw = /** @type {Mw} */ (win.mw); // isEditPage() found it
      if (mw.loader && mw.loader.using) {
        mw.loader.using(['mediawiki.util']).then(loadBundle, loadBundle);
      } else {
        loadBundle();
      }
    };
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', go);
    } else {
      go();
    }
  }

  if (!serverUrl) {
    if (window.console) {
      window.console.warn('MediaWiki Collab: cannot tell the server URL; set window.MediaWikiCollabServer');
    }
    return;
  }
  if (isEditPage()) {
    whenReady();
  }
}());
