// @y/websocket-server as its README runs it (src/server.js), in memory, on HOST:PORT.
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'

const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || 1234)
const wss = new WebSocketServer({ noServer: true })
const server = http.createServer((_req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('okay') })
wss.on('connection', setupWSConnection)
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request))
})
server.listen(port, host, () => console.log(`y-websocket server on ${host}:${port}`))
