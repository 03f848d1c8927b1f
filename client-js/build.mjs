// Builds the browser bundle and copies the loader:
//   src/index.js  -> ../collab/static/collab.js (+ .map): IIFE exposing window.MediaWikiCollab
//   src/loader.js -> ../collab/static/loader.js: copied as-is (installed on the wiki, must stay tiny)
// The server serves collab/static/ at /static/. Usage: node build.mjs [--watch]
import { build, context } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const outDir = join(here, '..', 'collab', 'static')

const options = {
  entryPoints: [join(here, 'src', 'index.js')],
  outfile: join(outDir, 'collab.js'),
  bundle: true,
  format: 'iife',
  globalName: 'MediaWikiCollab',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  logLevel: 'warning'
}

await mkdir(outDir, { recursive: true })
await copyFile(join(here, 'src', 'loader.js'), join(outDir, 'loader.js'))
if (process.argv.includes('--watch')) {
  const ctx = await context(options)
  await ctx.watch()
  console.log('watching client-js/src (the loader is copied once; rerun for loader changes)')
} else {
  const result = await build({ ...options, metafile: true })
  const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs).find(f => f.endsWith('collab.js'))].bytes
  console.log(`built collab/static/collab.js (${Math.round(bytes / 1024)} KiB) and collab/static/loader.js`)
}
