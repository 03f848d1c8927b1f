// Editing traces (josephg/editing-traces format): loading, and turning them into Yjs operations.
//
// Sequential traces: {startContent, endContent, txns: [{patches: [[pos, del, ins]]}]}, positions in
// unicode code points. Concurrent traces: {numAgents, endContent, txns: [{parents, agent, patches}]},
// each txn's positions relative to the document at exactly its parents' version.
import fs from 'node:fs'
import zlib from 'node:zlib'
import * as Y from 'yjs'

export function loadTrace (file) {
  const raw = fs.readFileSync(file)
  const json = file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw
  return JSON.parse(json.toString('utf8'))
}

const hasAstral = (s) => /[\u{10000}-\u{10FFFF}]/u.test(s)

/** True when code point positions differ from UTF-16 positions somewhere in the trace. */
export function needsConversion (trace) {
  if (hasAstral(trace.endContent || '') || hasAstral(trace.startContent || '')) return true
  return trace.txns.some((t) => t.patches.some((p) => hasAstral(p[2])))
}

/** Code point index -> UTF-16 index in `s` (only used for traces with astral characters). */
function toUtf16 (s, cp) {
  let i = 0
  let n = 0
  while (n < cp && i < s.length) {
    const c = s.charCodeAt(i)
    i += c >= 0xd800 && c < 0xdc00 ? 2 : 1
    n++
  }
  return i
}

/** Apply one trace txn's patches to a Y.Text (call inside a transaction for one update per txn). */
export function applyPatches (ytext, patches, convert) {
  for (const [pos, del, ins] of patches) {
    if (convert) {
      const s = ytext.toString()
      const at = toUtf16(s, pos)
      if (del) ytext.delete(at, toUtf16(s, pos + del) - at)
      if (ins) ytext.insert(at, ins)
    } else {
      if (del) ytext.delete(pos, del)
      if (ins) ytext.insert(pos, ins)
    }
  }
}

/**
 * What a receiver checks to know that one transaction has arrived: the last inserted struct id, or for
 * a delete-only transaction one id it deleted.
 */
export function probeOf (tr, doc) {
  const own = doc.clientID
  const before = tr.beforeState.get(own) || 0
  const after = tr.afterState.get(own) || 0
  if (after > before) return { client: own, clock: after - 1, del: false }
  for (const [client, clock] of tr.afterState) { // a precomputed update carries its agent's client id
    if (clock > (tr.beforeState.get(client) || 0)) return { client, clock: clock - 1, del: false }
  }
  for (const [c, items] of tr.deleteSet.clients) {
    if (items.length) return { client: c, clock: items[0].clock, del: true }
  }
  return null
}

/** Whether `doc` already holds what `probe` marks. */
export function probeArrived (doc, probe) {
  if (Y.getState(doc.store, probe.client) <= probe.clock) return false
  if (!probe.del) return true
  return Y.getItem(doc.store, Y.createID(probe.client, probe.clock)).deleted
}

/**
 * Replay a concurrent trace offline, one Y.Doc per agent (fixed client ids), each txn applied to a doc
 * that holds exactly its parents' version. Returns per txn the Yjs update it produced and its probe, plus
 * the converged text, so live clients can send the very same updates in causal order.
 */
export function precomputeConcurrent (trace) {
  const { txns, numAgents } = trace
  const convert = needsConversion(trace)
  const n = txns.length
  const docs = []
  const have = [] // per agent: Uint8Array over txns: already in that agent's doc
  for (let a = 0; a < numAgents; a++) {
    const doc = new Y.Doc({ gc: false })
    doc.clientID = 1000 + a
    docs.push(doc)
    have.push(new Uint8Array(n))
  }
  const updates = new Array(n)
  const probes = new Array(n)
  const stack = []
  for (let i = 0; i < n; i++) {
    const t = txns[i]
    const a = t.agent
    const doc = docs[a]
    const mine = have[a]
    // Bring in every ancestor of the parents that this agent's doc lacks (in index order = causal order).
    const missing = []
    for (const p of t.parents) if (!mine[p]) stack.push(p)
    while (stack.length) {
      const p = stack.pop()
      if (mine[p]) continue
      mine[p] = 1
      missing.push(p)
      for (const q of txns[p].parents) if (!mine[q]) stack.push(q)
    }
    missing.sort((x, y) => x - y)
    for (const p of missing) Y.applyUpdate(doc, updates[p], 'merge')
    let update = null
    let probe = null
    const onUpdate = (u, origin) => { if (origin === 'trace') update = u }
    const onAfter = (tr) => { if (tr.origin === 'trace') probe = probeOf(tr, doc) }
    doc.on('update', onUpdate)
    doc.on('afterTransaction', onAfter)
    doc.transact(() => applyPatches(doc.getText('wikitext'), t.patches, convert), 'trace')
    doc.off('update', onUpdate)
    doc.off('afterTransaction', onAfter)
    mine[i] = 1
    updates[i] = update || new Uint8Array([0, 0])
    probes[i] = probe
  }
  const final = new Y.Doc()
  final.transact(() => { for (const u of updates) Y.applyUpdate(final, u) })
  const text = final.getText('wikitext').toString()
  return { updates, probes, text, matchesEndContent: text === trace.endContent }
}

/** The text of a sequential trace after its first `count` txns (fast, plain strings; UTF-16 safe). */
export function sequentialText (trace, count) {
  const convert = needsConversion(trace)
  let s = trace.startContent || ''
  const txns = trace.txns.slice(0, count)
  for (const t of txns) {
    for (const [pos, del, ins] of t.patches) {
      const at = convert ? toUtf16(s, pos) : pos
      const end = convert ? toUtf16(s, pos + del) : pos + del
      s = s.slice(0, at) + ins + s.slice(end)
    }
  }
  return s
}
