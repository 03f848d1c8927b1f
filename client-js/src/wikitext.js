// @ts-check
/**
 * Wikitext syntax highlighting for CodeMirror 6: a small line-based stream tokenizer (no full parse:
 * wikitext has no grammar) and a highlight style close to MediaWiki's own CodeMirror colours.
 *
 * Recognised: headings, lists, horizontal rules, tables (`{| |- | ! |}`), internal links `[[target|label]]`,
 * external links `[url label]` and bare URLs, templates `{{name|...}}` and parser functions, template
 * parameters `{{{1}}}`, bold/italic quotes, HTML comments, tags and their attributes, raw-content tags
 * (`nowiki`, `pre`, `syntaxhighlight`, `math`...), magic words `__TOC__`, signatures `~~~~`, entities.
 *
 * @module wikitext
 */

import { StreamLanguage, HighlightStyle, syntaxHighlighting } from '@codemirror/language'
import { tags as t } from '@lezer/highlight'

/** Tags whose content is not wikitext: highlighted as a block until the closing tag. */
const RAW_TAGS = new Set(['nowiki', 'pre', 'syntaxhighlight', 'source', 'math', 'chem', 'score', 'templatedata',
  'graph', 'mapframe', 'maplink', 'timeline', 'hiero', 'inputbox', 'categorytree', 'css', 'js', 'code'])

/**
 * Tokenizer state. Kept flat (numbers, strings, booleans) so CodeMirror's default copyState is a full copy.
 * @typedef {Object} WikiState
 * @property {boolean} comment inside `<!-- -->`
 * @property {string} raw name of the raw-content tag we are inside, '' if none
 * @property {number} template depth of `{{ }}`
 * @property {number} param depth of `{{{ }}}`
 * @property {number} link depth of `[[ ]]`
 * @property {boolean} target reading the target of a link or the name of a template
 * @property {boolean} extLink inside `[url label]`
 * @property {string} tag inside a tag's attributes (`<ref name=...>`): the tag name, '' if none
 * @property {boolean} bold
 * @property {boolean} italic
 */

/** Characters that may start markup; a run of anything else is plain text. */
const PLAIN = /^(?:(?![a-z][a-z0-9+.-]*:\/\/)[^<{}[\]'|~_&=!\n-])+/i
const URL_RE = /^(?:https?|ftp|ftps|irc|ircs|news|mailto|gopher|telnet|sftp|ssh|svn|git|worldwind|wss?):(?:\/\/)?[^\s<>[\]{}"|]+/i

/**
 * The style of ordinary text given the formatting in force.
 * @param {WikiState} s
 * @return {string|null}
 */
const textStyle = (s) => {
  const parts = []
  if (s.link > 0) parts.push('link')
  if (s.bold) parts.push('strong')
  if (s.italic) parts.push('emphasis')
  return parts.length ? parts.join(' ') : null
}

/**
 * @param {import('@codemirror/language').StringStream} stream
 * @param {WikiState} s
 * @return {string|null}
 */
const token = (stream, s) => {
  if (stream.sol()) {
    // Bold and italic never run past the end of a line.
    s.bold = false
    s.italic = false
  }
  if (s.comment) {
    if (stream.skipTo('-->')) {
      stream.match('-->')
      s.comment = false
    } else {
      stream.skipToEnd()
    }
    return 'comment'
  }
  if (s.raw) {
    const close = new RegExp(`^</${s.raw}\\s*>`, 'i')
    if (stream.match(close)) {
      s.raw = ''
      return 'tagName'
    }
    if (!stream.match(new RegExp(`^[^<]+|^<(?!/${s.raw}\\s*>)`, 'i'))) stream.next()
    return 'monospace'
  }
  if (s.tag) {
    if (stream.match(/^\/?>/)) {
      const closing = stream.current() === '/>'
      if (!closing && RAW_TAGS.has(s.tag)) s.raw = s.tag
      s.tag = ''
      return 'tagName'
    }
    if (stream.match(/^[\w:-]+(?==)/)) return 'attributeName'
    if (stream.match(/^=\s*("[^"]*"?|'[^']*'?|[^\s>]*)/)) return 'attributeValue'
    if (stream.eatSpace()) return null
    stream.next()
    return 'attributeName'
  }
  if (stream.sol()) {
    if (stream.match(/^(={1,6})[^=].*\1\s*$/) || stream.match(/^={2,}\s*$/)) return 'heading'
    if (stream.match(/^-{4,}/)) return 'contentSeparator'
    if (stream.match(/^[*#:;]+/)) return 'list'
  }
  if (stream.sol() && s.template === 0 && s.link === 0 && s.param === 0) {
    // Tables; inside a template a leading | separates parameters instead.
    if (stream.match(/^\s*\{\|/)) {
      stream.skipToEnd()
      return 'keyword'
    }
    if (stream.match(/^\s*(\|\}|\|-+|\|\+)/)) {
      if (stream.current().trim().startsWith('|-')) stream.skipToEnd()
      return 'keyword'
    }
    if (stream.match(/^\s*[|!]/)) return 'keyword'
  }
  if (stream.match('<!--')) {
    s.comment = true
    return 'comment'
  }
  if (stream.match(/^<\/?[a-z][\w-]*/i)) {
    const name = stream.current().replace(/^<\/?/, '').toLowerCase()
    if (stream.current().startsWith('</')) {
      stream.match(/^\s*>/)
    } else {
      s.tag = name
    }
    return 'tagName'
  }
  if (stream.match('{{{')) {
    s.param++
    return 'variableName.special'
  }
  if (s.param > 0 && stream.match('}}}')) {
    s.param--
    return 'variableName.special'
  }
  if (stream.match('{{')) {
    s.template++
    s.target = true
    return 'brace'
  }
  if (s.template > 0 && stream.match('}}')) {
    s.template--
    s.target = false
    return 'brace'
  }
  if (stream.match('[[')) {
    s.link++
    s.target = true
    return 'squareBracket'
  }
  if (s.link > 0 && stream.match(']]')) {
    s.link--
    s.target = false
    return 'squareBracket'
  }
  if (s.target) {
    // A template name (or parser function) or a link target: up to |, the closing brackets, or line end.
    if (stream.match(/^[^|{}[\]<\n]+/)) {
      if (s.link > 0) return 'link'
      return stream.current().trimStart().startsWith('#') ? 'keyword' : 'macroName'
    }
    s.target = false
  }
  if (stream.match('|')) {
    s.target = false
    return s.template > 0 || s.link > 0 || s.param > 0 ? 'separator' : 'keyword'
  }
  if (stream.match(/^\[(?=(?:[a-z][a-z0-9+.-]*:)?\/\/)/i)) {
    s.extLink = true
    stream.match(URL_RE) || stream.match(/^\/\/[^\s\]]+/)
    return 'url'
  }
  if (s.extLink && stream.match(']')) {
    s.extLink = false
    return 'url'
  }
  if (stream.match(URL_RE)) return 'url'
  if (stream.match("'''''")) {
    s.bold = !s.bold
    s.italic = !s.italic
    return 'meta'
  }
  if (stream.match("'''")) {
    s.bold = !s.bold
    return 'meta'
  }
  if (stream.match("''")) {
    s.italic = !s.italic
    return 'meta'
  }
  if (stream.match(/^~{3,5}/)) return 'keyword'
  if (stream.match(/^__[A-Z_]+__/)) return 'keyword'
  if (stream.match(/^&(?:#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);/i)) return 'character'
  if (s.template > 0 && stream.match(/^[^|={}[\]<\n]+(?==)/)) return 'attributeName'
  if (stream.match(PLAIN)) return textStyle(s)
  stream.next()
  return textStyle(s)
}

/** The wikitext language (a StreamLanguage: incremental, line-based). */
export const wikitextLanguage = StreamLanguage.define({
  name: 'wikitext',
  /** @return {WikiState} */
  startState: () => ({
    comment: false, raw: '', template: 0, param: 0, link: 0, target: false, extLink: false, tag: '', bold: false, italic: false
  }),
  token,
  /** @param {WikiState} s */
  blankLine: (s) => {
    s.bold = false
    s.italic = false
  },
  languageData: { commentTokens: { block: { open: '<!--', close: '-->' } } }
})

/** Colours after MediaWiki's CodeMirror extension, readable on a white background. */
export const wikitextHighlightStyle = HighlightStyle.define([
  { tag: t.heading, fontWeight: 'bold', color: '#0b0080' },
  { tag: t.strong, fontWeight: 'bold' },
  { tag: t.emphasis, fontStyle: 'italic' },
  { tag: t.link, color: '#3366cc' },
  { tag: t.url, color: '#3366cc', textDecoration: 'underline' },
  { tag: t.squareBracket, color: '#3366cc', fontWeight: 'bold' },
  { tag: t.brace, color: '#a11', fontWeight: 'bold' },
  { tag: t.macroName, color: '#a11' },
  { tag: t.special(t.variableName), color: '#e67e00', fontWeight: 'bold' },
  { tag: t.separator, color: '#a11', fontWeight: 'bold' },
  { tag: t.attributeName, color: '#7a4d00' },
  { tag: t.attributeValue, color: '#0a7a0a' },
  { tag: t.comment, color: '#72777d', fontStyle: 'italic' },
  { tag: t.tagName, color: '#14866d' },
  { tag: t.monospace, fontFamily: 'monospace', color: '#333' },
  { tag: t.keyword, color: '#8b008b', fontWeight: 'bold' },
  { tag: t.list, color: '#8b008b', fontWeight: 'bold' },
  { tag: t.contentSeparator, color: '#8b008b' },
  { tag: t.meta, color: '#72777d' },
  { tag: t.character, color: '#0a7a0a' }
])

/** @return {import('@codemirror/state').Extension} the language plus its highlighting */
export const wikitext = () => [wikitextLanguage, syntaxHighlighting(wikitextHighlightStyle)]
