// refserver.mjs -- runs the Durable Streams reference server (@durable-streams/server, pinned by
// package-lock.json beside this file) file-backed, as the peer of `make bench`'s ds scenario.
//
//   node bench/ds/refserver.mjs --port P --data DIR [--host 127.0.0.1] [--long-poll-ms 1000]
//
// Streams are served at http://HOST:PORT/v1/stream/NAME (the reference serves every path; the
// load generator uses that prefix, as for ours). --port 0 picks a free port. Once listening it
// prints one line, "listening on HOST:PORT", to stderr; it stops cleanly on SIGTERM or SIGINT.
// The reference's own settings are left at their defaults except the storage (file-backed: a
// log file per stream plus LMDB metadata under --data, every append written and fdatasync'ed
// before it is acknowledged) and the long-poll timeout (its default of 30 s is for production;
// the conformance suite needs it well under 5 s, and ours is run with 1 s).
import { DurableStreamTestServer } from "@durable-streams/server"

function usage(msg) {
  if (msg) process.stderr.write(`refserver: ${msg}\n`)
  process.stderr.write(
    `usage: node refserver.mjs --port P --data DIR [--host H] [--long-poll-ms MS]\n`
  )
  process.exit(2)
}

const opts = { host: `127.0.0.1`, port: null, data: null, longPollMs: 1000 }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const v = argv[i + 1]
  if (a === `--host`) opts.host = v
  else if (a === `--port`) opts.port = Number(v)
  else if (a === `--data`) opts.data = v
  else if (a === `--long-poll-ms`) opts.longPollMs = Number(v)
  else usage(`unknown argument ${a}`)
  i++
}
if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage(`bad --port`)
if (!opts.data) usage(`--data is required (file-backed storage)`)
if (!Number.isFinite(opts.longPollMs) || opts.longPollMs <= 0) usage(`bad --long-poll-ms`)

const server = new DurableStreamTestServer({
  host: opts.host,
  port: opts.port,
  dataDir: opts.data,
  longPollTimeout: opts.longPollMs,
})

let stopping = false
async function stop(signal) {
  if (stopping) return
  stopping = true
  const force = setTimeout(() => process.exit(1), 5000)
  force.unref()
  try {
    await server.stop()
  } catch (err) {
    process.stderr.write(`refserver: stop after ${signal}: ${err?.stack ?? err}\n`)
    process.exit(1)
  }
  process.exit(0)
}
process.on(`SIGTERM`, () => stop(`SIGTERM`))
process.on(`SIGINT`, () => stop(`SIGINT`))

try {
  const url = await server.start()
  process.stderr.write(`listening on ${new URL(url).host}\n`)
} catch (err) {
  process.stderr.write(`refserver: cannot start: ${err?.stack ?? err}\n`)
  process.exit(1)
}
