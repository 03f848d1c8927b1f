// Builds the two browser bundles and copies the loader:
//   src/index.js       -> ../collab/static/collab.js (+ .map): IIFE exposing window.MediaWikiCollab
//   src/admin/index.js -> ../collab/static/admin.js: the admin dashboard (served at /admin/admin.js; no
//                         source map, since only that one file is served)
//   src/loader.js      -> ../collab/static/loader.js: copied as-is (installed on the wiki, must stay tiny)
// The server serves collab/static/ at /static/. Usage: node build.mjs [--watch]
import { build, context } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'
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

await mkdir(outDir, { recursive: true })
await copyFile(join(here, 'src', 'loader.js'), join(outDir, 'loader.js'))
if (process.argv.includes('--watch')) {
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
  console.log(`built ${built.join(', ')} and collab/static/loader.js`)
}
