// Builds the two browser bundles and copies the loader:
//   src/index.js       -> ../collab/static/collab.js (+ .map): IIFE exposing window.MediaWikiCollab
//   src/admin/index.js -> ../collab/static/admin.js: the admin dashboard (served at /admin/admin.js; no
//                         source map, since only that one file is served)
//   src/loader.js      -> ../collab/static/loader.js: copied (installed on the wiki, must stay tiny), with
//                         the name of the content-hashed copy of collab.js written into it (see below)
// collab.js is also copied to collab.<hash>.js (the first 16 hex digits of its SHA-256), precompressed next
// to it as .gz and .br: the loader fetches that name, which the server sends with a one-year immutable
// Cache-Control and, as the browser's Accept-Encoding allows, the brotli or gzip file (collab/staticfiles.py).
// Older hashed copies are removed. In --watch mode the loader keeps the plain collab.js (revalidated on
// every load). The server serves collab/static/ at /static/. Usage: node build.mjs [--watch]
import { build, context } from 'esbuild'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { brotliCompress, constants as zlib, gzip } from 'node:zlib'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const outDir = join(here, '..', 'collab', 'static')

const common = {
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  logLevel: 'warning'
}

/** @type {import('esbuild').BuildOptions[]} */
const bundles = [
  {
    ...common,
    entryPoints: [join(here, 'src', 'index.js')],
    outfile: join(outDir, 'collab.js'),
    globalName: 'MediaWikiCollab',
    sourcemap: true
  },
  {
    ...common,
    entryPoints: [join(here, 'src', 'admin', 'index.js')],
    outfile: join(outDir, 'admin.js')
  }
]

// The loader's line naming the bundle; build.mjs puts the hashed name in place of collab.js.
const BUNDLE_LINE = "var BUNDLE = 'collab.js';"
const HASHED = /^collab\.[0-9a-f]{16}\.js(?:\.gz|\.br)?$/

/**
 * Write collab.<hash>.js with its .gz and .br, remove older hashed copies, and name it in the loader.
 * @return {Promise<string>} a line for the build's summary: the sizes sent over the wire
 */
const publishHashed = async () => {
  const code = await readFile(join(outDir, 'collab.js'))
  const name = `collab.${createHash('sha256').update(code).digest('hex').slice(0, 16)}.js`
  const gz = await promisify(gzip)(code, { level: 9 })
  const br = await promisify(brotliCompress)(code, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: code.length }
  })
  for (const old of await readdir(outDir)) {
    if (HASHED.test(old) && !old.startsWith(name)) await rm(join(outDir, old))
  }
  await writeFile(join(outDir, name), code)
  await writeFile(join(outDir, `${name}.gz`), gz)
  await writeFile(join(outDir, `${name}.br`), br)
  const loader = await readFile(join(here, 'src', 'loader.js'), 'utf8')
  if (!loader.includes(BUNDLE_LINE)) throw new Error(`src/loader.js lacks the line ${BUNDLE_LINE}`)
  await writeFile(join(outDir, 'loader.js'), loader.replace(BUNDLE_LINE, `var BUNDLE = '${name}';`))
  const kib = (/** @type {number} */ n) => `${(n / 1024).toFixed(1)} KiB`
  return `collab/static/${name} (${kib(code.length)}; ${kib(gz.length)} gzip, ${kib(br.length)} brotli)`
}

await mkdir(outDir, { recursive: true })
if (process.argv.includes('--watch')) {
  await copyFile(join(here, 'src', 'loader.js'), join(outDir, 'loader.js'))
  for (const options of bundles) await (await context(options)).watch()
  console.log('watching client-js/src (the loader is copied once; rerun for loader changes)')
} else {
  const built = []
  for (const options of bundles) {
    const result = await build({ ...options, metafile: true })
    const outfile = /** @type {string} */ (options.outfile)
    const key = Object.keys(result.metafile.outputs).find(f => join(here, f) === outfile)
    const bytes = key ? result.metafile.outputs[key].bytes : 0
    built.push(`${relative(join(here, '..'), outfile)} (${Math.round(bytes / 1024)} KiB)`)
  }
  built.push(await publishHashed())
  console.log(`built ${built.join(', ')} and collab/static/loader.js`)
}
