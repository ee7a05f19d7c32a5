// The shortest way to add signaling to an existing Fastify app.
import Fastify from 'fastify'
import notify from 'fastify-rtc-notify'

const app = Fastify({ logger: true })

// The app's own API, untouched.
app.get('/api/hello', async () => ({ hello: 'world' }))

// Peers of a call open ws://<host>/rtc/call/<id>.
await app.register(notify, {
  prefix: '/rtc',
  iceServers: [{ urls: 'stun:stun.l.google.com:19302' }]
})

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
