// The wikitext tokenizer: which spans get which highlighting tags (no DOM needed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { highlightTree, tagHighlighter, tags as t } from '@lezer/highlight'

import { wikitextLanguage } from '../src/wikitext.js'

const classes = tagHighlighter([
  { tag: t.heading, class: 'heading' },
  { tag: t.link, class: 'link' },
  { tag: t.squareBracket, class: 'bracket' },
  { tag: t.brace, class: 'brace' },
  { tag: t.macroName, class: 'template' },
  { tag: t.separator, class: 'separator' },
  { tag: t.comment, class: 'comment' },
  { tag: t.tagName, class: 'tag' },
  { tag: t.attributeName, class: 'attr' },
  { tag: t.attributeValue, class: 'value' },
  { tag: t.strong, class: 'bold' },
  { tag: t.emphasis, class: 'italic' },
  { tag: t.url, class: 'url' },
  { tag: t.keyword, class: 'keyword' },
  { tag: t.list, class: 'list' },
  { tag: t.monospace, class: 'raw' },
  { tag: t.special(t.variableName), class: 'param' }
])

/**
 * The text of every highlighted span, by class.
 * @param {string} text
 */
const spans = (text) => {
  const tree = wikitextLanguage.parser.parse(text)
  /** @type {Record<string, string[]>} */
  const out = {}
  highlightTree(tree, classes, (from, to, cls) => {
    for (const c of cls.split(' ')) (out[c] ||= []).push(text.slice(from, to))
  })
  return out
}

test('headings, lists and magic words', () => {
  const s = spans('== History ==\n* item\n# numbered\n__NOTOC__ signed ~~~~')
  assert.deepEqual(s.heading, ['== History =='])
  assert.deepEqual(s.list, ['*', '#'])
  assert.deepEqual(s.keyword, ['__NOTOC__', '~~~~'])
})

test('links: the target is a link, the label is text', () => {
  const s = spans('See [[Main Page|the main page]] and [https://example.org Example].')
  assert.deepEqual(s.bracket, ['[[', ']]'])
  assert.deepEqual(s.link, ['Main Page', 'the main page'])
  assert.deepEqual(s.url, ['[https://example.org', ']'])
})

test('templates, parameters and parser functions', () => {
  const s = spans('{{Infobox person|name={{{1}}}|born=1900}} {{#if: x | y }}')
  assert.deepEqual(s.template, ['Infobox person'])
  assert.deepEqual(s.param, ['{{{', '}}}'])
  assert.ok(s.separator.length >= 2)
  assert.ok(s.attr.includes('name'))
  assert.ok(s.keyword.includes('#if: x '))
})

test('bold and italic stop at the end of the line', () => {
  const s = spans("'''bold''' ''italic'' '''open\nplain")
  assert.ok(s.bold.includes('bold'))
  assert.ok(s.italic.includes('italic'))
  assert.ok(s.bold.includes('open'))
  assert.ok(!s.bold.includes('plain'))
})

test('comments, tags with attributes and raw content span lines', () => {
  const s = spans('a <!-- one\ntwo --> b <ref name="x">c</ref> <nowiki>[[not a link]]</nowiki> <pre>\n{{x}}\n</pre>')
  assert.deepEqual(s.comment, ['<!-- one', 'two -->'])
  assert.ok(s.tag.includes('<ref'))
  assert.deepEqual(s.attr, ['name'])
  assert.deepEqual(s.value, ['="x"'])
  assert.ok(s.raw.includes('[[not a link]]'))
  assert.ok(s.raw.includes('{{x}}'))
  assert.ok(!s.bracket, 'no link inside nowiki')
})

test('tables', () => {
  const s = spans('{| class="wikitable"\n|-\n! Head\n| cell || cell\n|}')
  assert.ok(s.keyword.length >= 4)
})
