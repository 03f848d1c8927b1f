// The load generator: one Node process of real Yjs clients running one workload against one server.
//
//   node bench/loadgen.mjs '<json config>'     (bench/run.py builds the config; see WORKLOADS below)
//
// Prints one JSON line with the result on stdout; progress goes to stderr. The server's CPU time
// (utime+stime) and RSS are read from /proc/<serverPid> at the edges of each measured window.
import fs from 'node:fs'
import * as Y from 'yjs'
import { makeClient } from './clients.mjs'
import { loadTrace, needsConversion, applyPatches, precomputeConcurrent, probeArrived, sequentialText } from './traces.mjs'

const cfg = JSON.parse(process.argv[2])
const log = (...args) => process.stderr.write(`[loadgen ${cfg.transport} ${cfg.workload}] ${args.join(' ')}\n`)
const now = () => performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const tick = () => new Promise((resolve) => setImmediate(resolve))

// ---- the server process, seen from /proc -------------------------------------------------------------
const CLK_TCK = cfg.clkTck || 100
function serverCpuS () {
  const s = fs.readFileSync(`/proc/${cfg.serverPid}/stat`, 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / CLK_TCK
}
function serverMem () {
  const s = fs.readFileSync(`/proc/${cfg.serverPid}/status`, 'utf8')
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [0, 0])[1])
  return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024 }
}

/** Samples server RSS while a window runs; returns the peak. */
function rssSampler (everyMs = 200) {
  let peak = serverMem().rssMB
  const timer = setInterval(() => { peak = Math.max(peak, serverMem().rssMB) }, everyMs)
  return { stop: () => { clearInterval(timer); return Math.max(peak, serverMem().rssMB) } }
}

/** CPU of the server and of this generator over a window. */
function cpuWindow () {
  const s0 = serverCpuS()
  const g0 = process.cpuUsage()
  const t0 = now()
  return {
    stop () {
      const wallS = (now() - t0) / 1000
      const g = process.cpuUsage(g0)
      return { wallS, serverCpuS: serverCpuS() - s0, genCpuS: (g.user + g.system) / 1e6 }
    }
  }
}

// ---- latency: each edit leaves a probe; receivers check the probes of the other editors of the page ----
class Tracker {
  constructor () {
    this.lat = [] // ms
    this.sentAt = [] // ms since origin, same index as lat
    this.delivered = 0
    this.expected = 0
    this.origin = now()
  }

  /** Group clients editing the same page; every client receives from every other one. */
  page (clients) {
    const page = { clients, probes: new Map(), times: new Map() }
    for (const c of clients) {
      page.probes.set(c, [])
      page.times.set(c, [])
      c.ptr = new Map(clients.filter((o) => o !== c).map((o) => [o, 0]))
      c.onRemote = (r) => this.check(page, r)
    }
    return page
  }

  sent (page, sender, probe, t0) {
    if (!probe) return
    page.probes.get(sender).push(probe)
    page.times.get(sender).push(t0)
    this.expected += page.clients.length - 1
  }

  check (page, receiver) {
    const t = now()
    for (const [sender, i0] of receiver.ptr) {
      const probes = page.probes.get(sender)
      let i = i0
      while (i < probes.length && probeArrived(receiver.doc, probes[i])) {
        const t0 = page.times.get(sender)[i]
        this.lat.push(t - t0)
        this.sentAt.push(t0 - this.origin)
        i++
      }
      if (i !== i0) {
        this.delivered += i - i0
        receiver.ptr.set(sender, i)
      }
    }
  }

  async drain (timeoutMs) {
    const deadline = now() + timeoutMs
    while (this.delivered < this.expected && now() < deadline) await sleep(20)
    return this.delivered >= this.expected
  }
}

function percentiles (values) {
  if (!values.length) return { n: 0 }
  const a = Float64Array.from(values).sort()
  const q = (p) => a[Math.min(a.length - 1, Math.floor(p * a.length))]
  return { n: a.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: a[a.length - 1], mean: a.reduce((x, y) => x + y, 0) / a.length }
}

async function pool (items, limit, fn) {
  const out = new Array(items.length)
  let next = 0
  const worker = async () => { while (next < items.length) { const i = next++; out[i] = await fn(items[i], i) } }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/**
 * A page name of its own for each run: a server that saves a page when its last editor leaves (ours) may
 * have saved the previous run's text to the wiki before it was stopped, and the next run would start from it.
 * @param {string} prefix
 */
const uniquePage = (prefix) => `${prefix}-${process.pid}-${Date.now()}`

/** Open `n` clients on one page: the first alone (it creates the page), then the others at once. */
async function openPage (page, n) {
  const first = await makeClient(cfg.transport, cfg.url, page).connect()
  const rest = await Promise.all(Array.from({ length: n - 1 }, () => makeClient(cfg.transport, cfg.url, page).connect()))
  return [first, ...rest]
}

const errorsOf = (clients) => clients.reduce((n, c) => n + c.errors, 0)
const closeAll = (clients) => { for (const c of clients) c.close() }

// ---- typing ------------------------------------------------------------------------------------------
let seed = 12345
const random = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
const LETTERS = 'etaoin shrdlu'

function typeOne (client) {
  return client.edit((text) => {
    const len = text.length
    if (client.cursor === undefined || client.cursor > len) client.cursor = Math.floor(random() * (len + 1))
    if (client.cursor > 0 && random() < 0.1) {
      text.delete(client.cursor - 1, 1)
      client.cursor--
    } else {
      text.insert(client.cursor, LETTERS[Math.floor(random() * LETTERS.length)])
      client.cursor++
    }
  })
}

/**
 * M pages x N editors, each typing R edits/s for D seconds (evenly spread, random phases).
 * `during(elapsedMs)` is called on every scheduler tick (the save workload uses it).
 */
// The first `warmupS` of a run are warm-up (200 fresh connections have just joined): their edits are sent,
// delivered and counted, but left out of the latency percentiles. Same for every server.
async function fanout ({ pages, editors, rate, durationS, prefix = 'fanout', drainS = 10, during = null, stopWhen = null, onStart = null, warmupS = 1 }) {
  const groups = await pool(Array.from({ length: pages }, (_, i) => `${prefix}-${i}`), 10, (p) => openPage(p, editors))
  const tracker = new Tracker()
  const all = []
  const pageOf = new Map()
  for (const clients of groups) {
    const page = tracker.page(clients)
    for (const c of clients) { pageOf.set(c, page); c.done = 0; c.phase = random(); all.push(c) }
  }
  await sleep(500)
  const errors0 = errorsOf(all)
  const rss = rssSampler()
  const cpu = cpuWindow()
  const start = now()
  tracker.origin = start
  if (onStart) onStart()
  const durationMs = durationS * 1000
  let sent = 0
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const elapsed = now() - start
      const capped = Math.min(elapsed, durationMs)
      for (const c of all) {
        const due = Math.floor((capped / 1000) * rate + c.phase)
        while (c.done < due) {
          const t0 = now()
          tracker.sent(pageOf.get(c), c, typeOne(c), t0)
          c.done++
          sent++
        }
      }
      if (during) during(elapsed)
      if (elapsed >= durationMs || (stopWhen && stopWhen(elapsed))) { clearInterval(timer); resolve() }
    }, 1)
  })
  const sendWallS = (now() - start) / 1000
  const drained = await tracker.drain(drainS * 1000)
  const c = cpu.stop()
  const peakMB = rss.stop()
  const result = {
    pages,
    editors,
    rate,
    offered: pages * editors * rate,
    sent,
    sentPerS: sent / sendWallS,
    expected: tracker.expected,
    delivered: tracker.delivered,
    drained,
    errors: errorsOf(all) - errors0,
    latency: percentiles(tracker.lat.filter((_, i) => tracker.sentAt[i] >= warmupS * 1000)),
    warmupS,
    serverCpuS: c.serverCpuS,
    serverCpuPerEditUs: (c.serverCpuS / sent) * 1e6,
    serverCpuPct: (100 * c.serverCpuS) / c.wallS,
    genCpuPct: (100 * c.genCpuS) / c.wallS,
    peakRssMB: peakMB,
    ...serverMem()
  }
  return { result, tracker, all }
}

// ---- workloads ---------------------------------------------------------------------------------------
const WORKLOADS = {
  async fanout () {
    const { result, all } = await fanout(cfg)
    closeAll(all)
    return result
  },

  async ramp () {
    const steps = []
    for (const rate of cfg.rates) {
      const { result, all } = await fanout({ ...cfg, rate, prefix: `ramp${rate}`, drainS: 5 })
      closeAll(all)
      result.ok = result.latency.p99 <= 100 && result.errors === 0 && result.delivered === result.expected && result.drained
      result.genBound = result.genCpuPct > 90 || result.sentPerS < 0.97 * result.offered
      log(`rate ${rate}/s/editor: offered ${result.offered}/s sent ${result.sentPerS.toFixed(0)}/s p99 ${result.latency.p99?.toFixed(1)} ms ok=${result.ok} gen ${result.genCpuPct.toFixed(0)}% server ${result.serverCpuPct.toFixed(0)}%`)
      steps.push(result)
      if (!result.ok) break
      await sleep(500)
    }
    const passed = steps.filter((s) => s.ok)
    const best = passed.length ? passed[passed.length - 1] : null
    return { steps, saturation: best ? best.offered : 0, limitedBy: best && best === steps[steps.length - 1] ? (best.genBound ? 'generator' : 'ramp end') : 'server' }
  },

  async trace () {
    const trace = loadTrace(cfg.file)
    const count = Math.min(cfg.limit || trace.txns.length, trace.txns.length)
    const convert = needsConversion(trace)
    const expected = count === trace.txns.length ? trace.endContent : sequentialText(trace, count)
    const clients = await openPage(cfg.page || uniquePage('trace'), 3)
    const [writer] = clients
    const tracker = new Tracker()
    const page = tracker.page(clients)
    if (trace.startContent) writer.edit((t) => t.insert(0, trace.startContent))
    await sleep(300)
    const errors0 = errorsOf(clients)
    const rss = rssSampler()
    const cpu = cpuWindow()
    const start = now()
    tracker.origin = start
    const txns = trace.txns
    if (cfg.rate) { // paced
      let i = 0
      await new Promise((resolve) => {
        const timer = setInterval(() => {
          const due = Math.min(count, Math.floor(((now() - start) / 1000) * cfg.rate) + 1)
          while (i < due) {
            const t0 = now()
            tracker.sent(page, writer, writer.edit((t) => applyPatches(t, txns[i].patches, convert)), t0)
            i++
          }
          if (i >= count) { clearInterval(timer); resolve() }
        }, 1)
      })
    } else { // full speed: yield to the event loop every few edits so sockets flush and receivers apply
      for (let i = 0; i < count; i++) {
        const t0 = now()
        tracker.sent(page, writer, writer.edit((t) => applyPatches(t, txns[i].patches, convert)), t0)
        if (i % 64 === 63) await tick()
      }
    }
    const drained = await tracker.drain(cfg.drainS ? cfg.drainS * 1000 : 120000)
    const timeS = (now() - start) / 1000
    const c = cpu.stop()
    const peakMB = rss.stop()
    const texts = clients.map((cl) => cl.text.toString())
    const result = {
      edits: count,
      timeS,
      drained,
      converged: texts.every((t) => t === expected),
      errors: errorsOf(clients) - errors0,
      latency: percentiles(tracker.lat),
      serverCpuS: c.serverCpuS,
      serverCpuPerEditUs: (c.serverCpuS / count) * 1e6,
      genCpuPct: (100 * c.genCpuS) / c.wallS,
      peakRssMB: peakMB,
      ...serverMem()
    }
    closeAll(clients)
    return result
  },

  async concurrent () {
    const trace = loadTrace(cfg.file)
    const pre = precomputeConcurrent(trace)
    const clients = await openPage(cfg.page || uniquePage('concurrent'), trace.numAgents)
    const tracker = new Tracker()
    const page = tracker.page(clients)
    const byAgent = clients.map(() => [])
    trace.txns.forEach((t, i) => byAgent[t.agent].push(i))
    const pos = clients.map(() => 0)
    const present = (client, agent, txn) => trace.txns[txn].agent === agent || probeArrived(client.doc, pre.probes[txn])
    let pumping = false
    const pump = () => { // each agent sends its next txns as soon as their parents have reached it
      if (pumping) return
      pumping = true
      let progress = true
      while (progress) {
        progress = false
        for (let a = 0; a < clients.length; a++) {
          const list = byAgent[a]
          while (pos[a] < list.length) {
            const i = list[pos[a]]
            if (!trace.txns[i].parents.every((p) => present(clients[a], a, p))) break
            const t0 = now()
            tracker.sent(page, clients[a], clients[a].applyLocal(pre.updates[i]), t0)
            pos[a]++
            progress = true
          }
        }
      }
      pumping = false
    }
    // Never edit from inside Yjs's update event (the edit would join the remote transaction): pump after it.
    let scheduled = false
    const schedule = () => { if (!scheduled) { scheduled = true; queueMicrotask(() => { scheduled = false; pump() }) } }
    for (const c of clients) {
      const check = c.onRemote
      c.onRemote = (r) => { check(r); schedule() }
    }
    await sleep(300)
    const errors0 = errorsOf(clients)
    const cpu = cpuWindow()
    const start = now()
    tracker.origin = start
    pump()
    const deadline = now() + 120000
    while (now() < deadline && (pos.some((p, a) => p < byAgent[a].length) || tracker.delivered < tracker.expected)) await sleep(5)
    const timeS = (now() - start) / 1000
    const c = cpu.stop()
    const texts = clients.map((cl) => cl.text.toString())
    if (!texts.every((t) => t === pre.text)) {
      const ref = new Y.Doc()
      for (const u of pre.updates) Y.applyUpdate(ref, u)
      const want = Y.decodeStateVector(Y.encodeStateVector(ref))
      for (const cl of clients) {
        const got = Y.decodeStateVector(Y.encodeStateVector(cl.doc))
        log(`diverged: state ${JSON.stringify([...got])} want ${JSON.stringify([...want])} pending ${!!cl.doc.store.pendingStructs} ${!!cl.doc.store.pendingDs} len ${cl.text.length}/${pre.text.length} sent ${pos.join(',')}`)
      }
    }
    const result = {
      txns: trace.txns.length,
      agents: trace.numAgents,
      timeS,
      converged: texts.every((t) => t === pre.text),
      matchesEndContent: pre.matchesEndContent,
      errors: errorsOf(clients) - errors0,
      latency: percentiles(tracker.lat),
      serverCpuS: c.serverCpuS,
      serverCpuPerEditUs: (c.serverCpuS / trace.txns.length) * 1e6,
      ...serverMem()
    }
    closeAll(clients)
    return result
  },

  async join () {
    // The page's history is built offline (every txn of the trace its own transaction, so the structure
    // is the real one) and uploaded by one seeding client as one update; then fresh clients join.
    const doc = new Y.Doc()
    const text = doc.getText('wikitext')
    let label
    if (cfg.kind === 'trace') {
      const trace = loadTrace(cfg.file)
      const convert = needsConversion(trace)
      for (const t of trace.txns) doc.transact(() => applyPatches(text, t.patches, convert))
      label = `${trace.txns.length} edits`
    } else {
      const wikitext = fs.readFileSync(cfg.file, 'utf8')
      const paras = wikitext.split(/(?<=\n\n)/)
      for (const p of paras) doc.transact(() => text.insert(text.length, p))
      label = `${(wikitext.length / 1e6).toFixed(2)} MB wikitext`
    }
    const expectedLen = text.length
    const update = Y.encodeStateAsUpdate(doc)
    const page = cfg.page || 'join'
    const seeder = await makeClient(cfg.transport, cfg.url, page).connect()
    seeder.applyLocal(update)
    const first = await makeClient(cfg.transport, cfg.url, page).connect()
    const t0 = now()
    while (first.text.length !== expectedLen && now() - t0 < 120000) await sleep(5)
    first.close()
    await sleep(300)
    const times = []
    for (let i = 0; i < cfg.reps; i++) {
      const start = now()
      const c = makeClient(cfg.transport, cfg.url, page)
      await c.connect()
      if (c.text.length !== expectedLen) throw new Error(`joined with ${c.text.length} chars, expected ${expectedLen}`)
      times.push(now() - start)
      c.close()
      await sleep(100)
    }
    const result = { label, updateBytes: update.length, chars: expectedLen, times, ...percentiles(times), ...serverMem() }
    seeder.close()
    return result
  },

  async idle () {
    // Connections arrive in four batches of pages; RSS is read after each batch has settled.
    await sleep(1000)
    const before = serverMem()
    const perPage = Math.round(cfg.conns / cfg.pages)
    const curve = [{ pages: 0, conns: 0, rssMB: before.rssMB }]
    const all = []
    const batch = Math.ceil(cfg.pages / 4)
    for (let b = 0; b < cfg.pages; b += batch) {
      const names = Array.from({ length: Math.min(batch, cfg.pages - b) }, (_, i) => `idle-${b + i}`)
      const groups = await pool(names, 10, (p) => openPage(p, perPage))
      all.push(...groups.flat())
      await sleep(cfg.settleMs || 2000)
      curve.push({ pages: b + names.length, conns: all.length, rssMB: serverMem().rssMB })
    }
    const after = serverMem()
    const result = {
      conns: all.length,
      pages: cfg.pages,
      errors: errorsOf(all),
      rssBeforeMB: before.rssMB,
      rssAfterMB: after.rssMB,
      perConnKB: ((after.rssMB - before.rssMB) * 1024) / all.length,
      hwmMB: after.hwmMB,
      curve
    }
    closeAll(all)
    return result
  },

  async save () {
    // Fanout traffic all along; a separate editor fills a page with ~1 MB of wikitext and saves it to
    // the wiki (`save` event) several times. Relay latency of the fanout during the saves vs before.
    const big = fs.readFileSync(cfg.file, 'utf8')
    const windows = []
    let phase = 'baseline'
    let editor = null
    const saves = []
    let driver = null
    const drive = async () => {
      await sleep(cfg.baselineS * 1000 + 1000)
      phase = 'loading'
      editor = await makeClient('collab', cfg.url, 'Bench big page').connect()
      editor.edit((t) => t.insert(0, big))
      await sleep(3000)
      for (let i = 0; i < cfg.saves; i++) {
        editor.edit((t) => t.insert(Math.floor(t.length / 2), ` edit ${i} `))
        await sleep(200)
        const t0 = now()
        const ack = await editor.save()
        const t1 = now()
        windows.push([t0, t1])
        saves.push({ ms: t1 - t0, ok: ack.ok, revid: ack.revid, error: ack.error })
        log(`save ${i}: ${(t1 - t0).toFixed(0)} ms ${JSON.stringify(ack)}`)
        await sleep(1000)
      }
      phase = 'done'
    }
    let stopAt = Infinity
    const { result, tracker, all } = await fanout({
      ...cfg,
      durationS: 3600,
      prefix: 'save',
      during: (elapsed) => { if (phase === 'done' && stopAt === Infinity) stopAt = elapsed + 1000 },
      stopWhen: (elapsed) => elapsed >= stopAt,
      onStart: () => { driver = drive() }
    })
    await driver
    void result
    const origin = tracker.origin
    const base = []
    const during = []
    for (let i = 0; i < tracker.lat.length; i++) {
      const t = tracker.sentAt[i] + origin
      if (t >= origin + 1000 && t < origin + cfg.baselineS * 1000 + 1000) base.push(tracker.lat[i])
      else if (windows.some(([a, b]) => t >= a && t <= b)) during.push(tracker.lat[i])
    }
    closeAll(all)
    editor?.close()
    return { saves, baseline: percentiles(base), during: percentiles(during), ratioP99: percentiles(during).p99 / percentiles(base).p99, bytes: big.length }
  }
}

const t0 = now()
try {
  const result = await WORKLOADS[cfg.workload]()
  result.wallS = (now() - t0) / 1000
  process.stdout.write(JSON.stringify({ ok: true, result }) + '\n')
  process.exit(0)
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.stack ? err.stack : err) }) + '\n')
  process.exit(1)
}
