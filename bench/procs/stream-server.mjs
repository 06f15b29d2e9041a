// A server that costs next to nothing: it speaks just enough of each protocol to get a client subscribed,
// then writes one prebuilt stream of N messages as fast as the client reads. The client's receive cost is
// then what limits the rate. Endpoints: /ws (Holdfast WebSocket), /sse (Holdfast SSE, also read by the
// `eventsource` package), /socket.io/ (engine.io v4 over WebSocket).
// The WebSocket handshake and framing are done by hand so no library sits between the bytes and the socket.
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { argvOptions, serve } from '../lib/child.mjs'

const { count = '100000', payloadBytes = '100' } = argvOptions()
const N = Number(count)
const CHANNEL = 'bench'
const EPOCH = 'e'
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const CHUNK_BYTES = 64 * 1024

const pad = 'x'.repeat(Math.max(0, Number(payloadBytes) - 20))
/** The JSON body of message i, identical on every transport: `{"channel","cursor","data"}`. */
const body = (i) => `{"channel":"${CHANNEL}","cursor":"${EPOCH}:${i + 1}","data":{"s":${i},"p":"${pad}"}}`

/** An unmasked server text frame. */
function wsFrame(text) {
  const payload = Buffer.from(text)
  const len = payload.length
  let header
  if (len < 126) header = Buffer.from([0x81, len])
  else if (len < 65536) header = Buffer.from([0x81, 126, len >> 8, len & 0xff])
  else {
    header = Buffer.alloc(10)
    header[0] = 0x81
    header[1] = 127
    header.writeBigUInt64BE(BigInt(len), 2)
  }
  return Buffer.concat([header, payload])
}

function prebuild(make) {
  const parts = []
  for (let i = 0; i < N; i++) parts.push(make(i))
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)))
}

const STREAMS = {
  holdfastWs: prebuild((i) => wsFrame(`{"type":"message",${body(i).slice(1)}`)),
  socketio: prebuild((i) => wsFrame(`42["message",${body(i)}]`)),
  sse: prebuild((i) => `id: ${CHANNEL}=${EPOCH}:${i + 1}\ndata: ${body(i)}\n\n`),
}

/** Writes `bytes` in chunks, waiting for `drain` whenever the socket's buffer is full. */
async function pump(socket, bytes) {
  for (let offset = 0; offset < bytes.length && !socket.destroyed; offset += CHUNK_BYTES) {
    if (!socket.write(bytes.subarray(offset, offset + CHUNK_BYTES))) {
      await new Promise((resolve) => {
        const done = () => {
          socket.off('drain', done)
          socket.off('close', done)
          resolve()
        }
        socket.on('drain', done)
        socket.on('close', done)
      })
    }
  }
}

/** Reads masked client frames from `socket`; calls `onText` per text frame, answers ping and close. */
function readFrames(socket, head, onText) {
  let buffer = head
  const parse = () => {
    while (buffer.length >= 2) {
      const opcode = buffer[0] & 0x0f
      let len = buffer[1] & 0x7f
      let offset = 2
      if (len === 126) {
        if (buffer.length < 4) return
        len = buffer.readUInt16BE(2)
        offset = 4
      } else if (len === 127) {
        if (buffer.length < 10) return
        len = Number(buffer.readBigUInt64BE(2))
        offset = 10
      }
      const masked = (buffer[1] & 0x80) !== 0
      const end = offset + (masked ? 4 : 0) + len
      if (buffer.length < end) return
      const payload = Buffer.from(buffer.subarray(end - len, end))
      if (masked) {
        const mask = buffer.subarray(offset, offset + 4)
        for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3]
      }
      buffer = buffer.subarray(end)
      if (opcode === 0x1) onText(payload.toString())
      else if (opcode === 0x9) socket.write(Buffer.concat([Buffer.from([0x8a, payload.length]), payload]))
      else if (opcode === 0x8) {
        socket.end(Buffer.from([0x88, 0]))
        return
      }
    }
  }
  socket.on('data', (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk
    parse()
  })
  parse()
}

const http = createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  if (url.pathname !== '/sse') {
    res.writeHead(404).end()
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  res.write(
    `retry: 1000\n\nevent: subscribed\nid: ${CHANNEL}=${EPOCH}:0\n` +
      `data: {"channel":"${CHANNEL}","epoch":"${EPOCH}","cursor":"${EPOCH}:0","recovered":true}\n\n`,
  )
  // 64 KiB HTTP chunks: the de-chunking is llhttp's (C), the same for every SSE client measured.
  pump(res, STREAMS.sse)
})

http.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x')
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
  const accept = createHash('sha1')
    .update(req.headers['sec-websocket-key'] + WS_GUID)
    .digest('base64')
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${accept}`,
  ]
  if (offered.includes('holdfast.v1')) lines.push('Sec-WebSocket-Protocol: holdfast.v1')
  socket.setNoDelay(true)
  socket.on('error', () => {})
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  const send = (text) => socket.write(wsFrame(text))
  if (url.pathname === '/ws') {
    readFrames(socket, head, (text) => {
      const frame = JSON.parse(text)
      if (frame.type === 'connect') send('{"type":"welcome","session":"bench","maxMessageBytes":131072}')
      else if (frame.type === 'subscribe') {
        send(
          `{"type":"subscribed","id":${frame.id},"channel":"${frame.channel}","epoch":"${EPOCH}","cursor":"${EPOCH}:0","recovered":true}`,
        )
        pump(socket, STREAMS.holdfastWs)
      } else if (frame.type === 'ping') send('{"type":"pong"}')
    })
  } else if (url.pathname === '/socket.io/') {
    send('0{"sid":"bench","upgrades":[],"pingInterval":300000,"pingTimeout":300000,"maxPayload":1000000}')
    readFrames(socket, head, (text) => {
      if (text.startsWith('40')) {
        send('40{"sid":"bench-ns"}')
        pump(socket, STREAMS.socketio)
      }
    })
  } else socket.destroy()
})

await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve))
serve({}, { port: http.address().port, count: N })
