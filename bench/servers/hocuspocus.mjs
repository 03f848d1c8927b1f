// @hocuspocus/server, in memory (no extensions), on HOST:PORT.
import { Server } from '@hocuspocus/server'

const server = new Server({
  address: process.env.HOST || '127.0.0.1',
  port: Number(process.env.PORT || 1234),
  quiet: true
})
await server.listen()
console.log('hocuspocus listening')
