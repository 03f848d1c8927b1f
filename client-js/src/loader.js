// @ts-check
/*
 * MediaWiki Collab loader: the one script a wiki admin installs (as a gadget, or from
 * MediaWiki:Common.js with mw.loader.load('https://COLLAB-SERVER/static/loader.js')).
 *
 * On the edit page (action=edit or action=submit) it puts an "Edit together" button before the textarea;
 * only when collaborative mode starts (that click, or `collab=1` in the URL) does it load the client
 * bundle from the same server and call MediaWikiCollab.startWikiEditor({serverUrl: <server>, open: true}),
 * whose own switch bar then replaces this button. The classic editor thus never downloads the bundle.
 * Anywhere else it does nothing. Served as-is (not bundled): plain ES5, so ResourceLoader accepts it
 * as a gadget too.
 *
 * The bundle's name is content-hashed (collab.<hash>.js, cached by browsers for a year): client-js/build.mjs
 * writes it into the BUNDLE line of the copy the server serves. A copy pasted from the source keeps the
 * plain collab.js, which browsers revalidate on every load.
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
  var BUNDLE = 'collab.js';

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

  /** @param {HTMLElement} bar the loader's own switch bar, replaced by the bundle's */
  function start(bar) {
    try {
      bar.parentNode && bar.parentNode.removeChild(bar);
      /** @type {Collab} */ (win.MediaWikiCollab).startWikiEditor({ serverUrl: serverUrl, open: true }); // set by collab.js
    } catch (e) {
      if (window.console) {
        window.console.error('MediaWiki Collab: could not start', e);
      }
    }
  }

  /**
   * @param {HTMLElement} bar
   * @param {HTMLButtonElement} button
   */
  function loadBundle(bar, button) {
    if (win.MediaWikiCollab) {
      start(bar);
      return;
    }
    var script = document.createElement('script');
    script.src = serverUrl + '/static/' + BUNDLE;
    script.async = true;
    script.onload = function () {
      start(bar);
    };
    script.onerror = function () {
      button.disabled = false;
      button.textContent = 'Edit together';
      if (window.console) {
        window.console.warn('MediaWiki Collab: could not load ' + script.src);
      }
    };
    document.head.appendChild(script);
  }

  /** Put "Edit together" where the bundle's switch bar goes (client-js/src/wiki.js), and wait for a click. */
  function offer() {
    var textarea = document.getElementById('wpTextbox1');
    if (!document.getElementById('editform') || !textarea || !textarea.parentNode) {
      return;
    }
    var anchor = (textarea.closest && textarea.closest('.wikiEditor-ui')) || textarea;
    var bar = document.createElement('div');
    bar.className = 'collab-switch';
    bar.style.margin = '0.5em 0';
    var button = document.createElement('button');
    button.type = 'button';
    button.id = 'collab-start';
    button.className = 'mw-ui-button cdx-button';
    button.textContent = 'Edit together';
    button.title = 'Edit this page in real time with everyone else who has it open';
    bar.appendChild(button);
    /** @type {Node} */ (anchor.parentNode).insertBefore(bar, anchor);
    var begin = function () {
      if (button.disabled) {
        return;
      }
      button.disabled = true;
      button.textContent = 'Loading\u2026';
      // mw.util builds the page URL after a save; the edit page has it, gadgets may not yet.
      var mw = /** @type {Mw} */ (win.mw); // isEditPage() found it
      var load = function () {
        loadBundle(bar, button);
      };
      if (mw.loader && mw.loader.using) {
        mw.loader.using(['mediawiki.util']).then(load, load);
      } else {
        load();
      }
    };
    button.addEventListener('click', begin);
    if (/[?&]collab=1(?:&|#|$)/.test(window.location.search)) {
      begin();
    }
  }

  function whenReady() {
    if (win.__mediaWikiCollabLoaded) {
      return;
    }
    win.__mediaWikiCollabLoaded = true;
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', offer);
    } else {
      offer();
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
