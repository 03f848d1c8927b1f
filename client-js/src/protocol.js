// @ts-check
/**
 * The wire protocol between the browser and the collab server, as plain data.
 *
 * Mirrors `collab/protocol.py`; a Python test compares the two, so keep names and values identical.
 * One Socket.IO connection (default namespace, path `/socket.io`, WebSocket transport only) carries
 * any number of pages; every page-scoped event names its page by title (a JSON string).
 *
 * | direction | event    | arguments               | ack                                                         |
 * |-----------|----------|-------------------------|-------------------------------------------------------------|
 * | C->S      | `join`   | `(title)`               | `{ok: true, title, revid, readonly}` or `{ok: false, error}` |
 * | C->S      | `leave`  | `(title)`               | `{ok: true}`                                                |
 * | C->S      | `save`   | `(title)`               | `{ok: true, revid}` or `{ok: false, error}`                 |
 * | both      | `y`      | `(title, Uint8Array)`   | none                                                        |
 * | S->C      | `status` | `(title, {state, ...})` | none                                                        |
 *
 * `y` payloads are y-websocket framed y-protocols messages (lib0 varuint framing):
 * `[0,0,stateVector]` sync step 1, `[0,1,update]` sync step 2, `[0,2,update]` update,
 * `[1,awarenessUpdate]` awareness, `[3]` query awareness.
 *
 * @module protocol
 */

/** C->S `join(title, ack)`: subscribe this connection to a page. */
export const EVENT_JOIN = 'join'
/** C->S `leave(title, ack)`: unsubscribe; the server removes the awareness states this connection announced. */
export const EVENT_LEAVE = 'leave'
/** Both ways `y(title, msg)`: one y-protocols message. */
export const EVENT_Y = 'y'
/** S->C `status(title, {state, ...})`: page lifecycle news, see {@link STATES}. */
export const EVENT_STATUS = 'status'
/** C->S `save(title, ack)`: ask the server to commit the page to the wiki now. */
export const EVENT_SAVE = 'save'

/** Every event name, for iteration. */
export const EVENTS = [EVENT_JOIN, EVENT_LEAVE, EVENT_Y, EVENT_STATUS, EVENT_SAVE]

/**
 * The `state` values of a server `status` event:
 * - `live`: the page is open for editing;
 * - `saving`: a commit to the wiki started;
 * - `saved`: committed (`revid`, `coauthors`);
 * - `merged`: an edit made outside the session was merged in (`revid`, `user`);
 * - `moved`: the wiki moved the page (`title`: the new title, `from`: the old one); sent under the old
 *   title, and from then on the server uses the new title for everything about the page (`y`, `status`,
 *   `save`, `leave`); the connection stays joined, no new `join` is needed;
 * - `readonly`: this connection may no longer edit the page (`message` gives the reason);
 * - `removed`: the server ended the page for this connection (`code` from {@link REMOVED_CODES},
 *   `message` says why); the connection is no longer joined to it;
 * - `error`: something failed (`code` from {@link ERROR_CODES}, `message` from the wiki).
 * @type {readonly string[]}
 */
export const STATES = Object.freeze(['live', 'saving', 'saved', 'merged', 'moved', 'readonly', 'removed', 'error'])

/** @typedef {'live'|'saving'|'saved'|'merged'|'moved'|'readonly'|'removed'|'error'} ServerState */

/**
 * The `code` of a `removed` status: the page was deleted on the wiki (`deleted`), an admin ended the
 * session or disconnected the user (`kicked`), a rights re-check found the user may no longer use the
 * page (`forbidden`). An older server sends `removed` without a code.
 * @type {readonly string[]}
 */
export const REMOVED_CODES = Object.freeze(['deleted', 'kicked', 'forbidden'])

/**
 * Error codes of `{ok: false, error: {code, message}}` acks and of `error` status events.
 * @type {readonly string[]}
 */
export const ERROR_CODES = Object.freeze([
  'invalidtitle',
  'notjoined',
  'badmessage',
  'toolarge',
  'readonly',
  'forbidden',
  'ratelimited',
  'wikiunavailable',
  'notstored',
  'saveerror',
  'internal'
])

/**
 * Error codes made up by the client itself (never sent by the server): the request could not be
 * sent (`offline`), got no answer in time (`timeout`), the provider was destroyed (`destroyed`), or
 * another provider on the same connection already has the page (`duplicate`).
 * @type {readonly string[]}
 */
export const CLIENT_ERROR_CODES = Object.freeze(['offline', 'timeout', 'destroyed', 'duplicate'])

/**
 * Server error codes worth retrying a join for (with backoff): the condition is temporary.
 * @type {readonly string[]}
 */
export const TRANSIENT_ERROR_CODES = Object.freeze(['ratelimited', 'wikiunavailable', 'internal', 'timeout'])

/** Name of the page text inside every Y.Doc: `ydoc.getText(TEXT_NAME)`. The server refuses other roots. */
export const TEXT_NAME = 'wikitext'

/** First varuint of a `y` message: a sync message. */
export const MSG_SYNC = 0
/** First varuint of a `y` message: an awareness update. */
export const MSG_AWARENESS = 1
/** First varuint of a `y` message: "send me your awareness". */
export const MSG_QUERY_AWARENESS = 3
/** Second varuint of a sync message: step 1 (state vector). */
export const SYNC_STEP1 = 0
/** Second varuint of a sync message: step 2 (the update the peer lacks). */
export const SYNC_STEP2 = 1
/** Second varuint of a sync message: an incremental update. */
export const SYNC_UPDATE = 2

/** The server refuses a single awareness state larger than this (bytes of JSON). */
export const MAX_AWARENESS_STATE_BYTES = 64 * 1024
/** The server refuses an awareness message of more states than this (send only your own). */
export const MAX_AWARENESS_ENTRIES = 4

/**
 * @typedef {Object} ProtocolError
 * @property {string} code one of {@link ERROR_CODES} or {@link CLIENT_ERROR_CODES}
 * @property {string} message human-readable, possibly the wiki's own message
 */

/**
 * A refused request: the server's answer, or one made on the client (codes in {@link CLIENT_ERROR_CODES}).
 * @typedef {Object} Failure
 * @property {false} ok
 * @property {ProtocolError} error
 */

/**
 * @typedef {Object} JoinAccepted
 * @property {true} ok
 * @property {string} [title] the normalised title: use it for every later event
 * @property {number|null} [revid] the wiki revision the page text is based on
 * @property {boolean} [readonly] true when this connection may read but not edit
 */

/** @typedef {JoinAccepted|Failure} JoinAck */

/**
 * @typedef {Object} SaveAccepted
 * @property {true} ok
 * @property {number|null} [revid] the new revision, null when there was nothing to save
 */

/** @typedef {SaveAccepted|Failure} SaveAck */

/**
 * The optional second argument of `save`: what the editor typed in the edit form's Summary box and ticked
 * in "This is a minor edit". The revision's summary is these words then the credit; it is minor only when
 * the editor saving typed everything it carries (docs/protocol.md).
 * @typedef {Object} SaveOptions
 * @property {string} [summary] at most {@link MAX_SAVE_SUMMARY_CHARS} characters
 * @property {boolean} [minor]
 */

/** The longest summary a `save` may carry (MediaWiki's limit); the server refuses longer ones. */
export const MAX_SAVE_SUMMARY_CHARS = 500

/**
 * @typedef {Object} ServerStatus
 * @property {ServerState} state
 * @property {string} [message]
 * @property {number|null} [revid]
 * @property {string[]} [coauthors]
 * @property {string} [user]
 * @property {string} [code]
 * @property {string} [reason]
 * @property {string} [title] `moved`: the page's new title
 * @property {string} [from] `moved`: the page's old title
 */
