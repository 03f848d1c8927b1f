// @ts-check
/**
 * "Watch this page" in collaborative mode: the page goes on the watchlist of an editor who ticked the
 * edit form's box (`#wpWatchthis`, pre-ticked by the wiki for those whose preferences watch edited
 * pages) when a revision with their text is saved. The browser does it with its own wiki session
 * (`action=watch` with a watch token, POST): the server's bot cannot watch for anyone else.
 *
 * Only ever watches: an unticked box never unwatches, since a save by a timer or by a colleague is not
 * the editor's own decision about their watchlist.
 *
 * @module watch
 */

/**
 * Whether a save should put the page on `userName`'s watchlist: the box is ticked and the revision
 * holds their text (they are among its `coauthors`). Anonymous users (`userName` null) have no watchlist.
 * @param {{coauthors: string[]}|null} saved the last `saved` status
 * @param {string|null} userName the wiki's `wgUserName`
 * @param {boolean} ticked the "Watch this page" box
 */
export const wantsWatch = (saved, userName, ticked) =>
  Boolean(ticked && userName && saved && saved.coauthors.includes(userName))

/**
 * Put `title` on the watchlist of the user whose session cookies this browser sends to `api`.
 * @param {string} api the wiki's `api.php` URL
 * @param {string} title
 * @param {{expiry?: string, fetch?: typeof fetch}} [opts] `expiry` as the form's `wpWatchlistExpiry`
 *   (omitted or `infinite`: permanently)
 * @return {Promise<void>}
 * @throws {Error} when the wiki does not answer or refuses (the caller tells the user)
 */
export const watchPage = async (api, title, { expiry, fetch: fetchFn = fetch } = {}) => {
  /** @param {Response} response */
  const json = async (response) => {
    if (!response.ok) throw new Error(`the wiki answered HTTP ${response.status}`)
    const data = await response.json()
    if (data.error) throw new Error(data.error.info || data.error.code)
    return data
  }
  const tokenParams = new URLSearchParams({ action: 'query', meta: 'tokens', type: 'watch', format: 'json', formatversion: '2' })
  const tokens = await json(await fetchFn(`${api}?${tokenParams}`, { credentials: 'same-origin' }))
  const token = tokens.query?.tokens?.watchtoken
  if (typeof token !== 'string') throw new Error('the wiki gave no watch token')
  const body = new URLSearchParams({ action: 'watch', titles: title, format: 'json', formatversion: '2', token })
  if (expiry && expiry !== 'infinite') body.set('expiry', expiry)
  const result = await json(await fetchFn(api, { method: 'POST', body, credentials: 'same-origin' }))
  const entry = result.watch?.[0]
  if (!entry || !entry.watched) throw new Error(`the wiki did not watch ${title}`)
}
