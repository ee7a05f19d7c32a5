// The servers the bench measures ("targets") and the pairs it compares ("modes").
//
// A target starts fresh processes for one measurement and says where to connect:
//   start({ inspect, nodeArgs, cpus }) -> { urls: string[], pids: number[], inspectors: string[], stop() }
// `urls` are the servers' base URLs (peer A of a room joins urls[0], peer B the last one),
// `pids` the processes whose CPU time and RSS are the server's, `inspectors` their V8
// inspector URLs when `inspect` was asked (for garbage collection before reading RSS);
// `cpus` (e.g. '1') pins the server processes to those CPUs with taskset.
//
// A mode is a pair [A, B] of targets; figures are given for both and as the ratio A/B.
// A cross-instance mode (issue 4) adds a target that starts redis-server and two instances
// with --redis (urls of both, pids of both and of redis-server) and a mode pairing it with
// the in-process project target, e.g. `redis: { a: 'project-redis', b: 'project' }`.
import { spawn } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { inspectorLine } from './inspector.js'

const benchDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
export const repoDir = path.dirname(benchDir)

/**
 * Starts one node process and waits for the line naming its URL.
 * @param {object} spec
 * @param {string[]} spec.args node arguments after the node flags (script and its flags)
 * @param {RegExp} spec.ready matches the stdout line; group 1 is the base URL
 * @param {string[]} [spec.nodeArgs] node flags (e.g. --cpu-prof)
 * @param {boolean} [spec.inspect] also open the inspector on a free port
 * @param {string} [spec.cpus] CPUs to pin the process (all its threads) to, e.g. '1'
 * @param {string} [spec.cwd]
 */
export function startNode ({ args, ready, nodeArgs = [], inspect = false, cpus, cwd = repoDir, env }) {
  const flags = [...nodeArgs, ...(inspect ? ['--inspect=127.0.0.1:0'] : [])]
  // taskset execs node in the same process: the pid is node's.
  const [file, argv] = cpus === undefined
    ? [process.execPath, [...flags, ...args]]
    : ['taskset', ['-c', cpus, process.execPath, ...flags, ...args]]
  const child = spawn(file, argv, {
    cwd,
    env: env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const command = [file, ...argv].join(' ')
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    let url
    let inspector
    const timer = setTimeout(() => fail(new Error(`${command}: not listening after 20 s\n${out}${err}`)), 20000)
    const fail = e => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(e)
    }
    const check = () => {
      if (url === undefined || (inspect && inspector === undefined)) return
      clearTimeout(timer)
      child.stdout.removeAllListeners('data')
      child.stdout.resume()
      resolve({ pid: child.pid, url, inspector, command, stop: () => stopChild(child) })
    }
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', chunk => {
      out += chunk
      const m = ready.exec(out)
      if (m !== null && url === undefined) {
        url = m[1]
        check()
      }
    })
    child.stderr.on('data', chunk => {
      err += chunk
      if (err.length > 65536) err = err.slice(-65536)
      const m = inspectorLine.exec(err)
      if (m !== null && inspector === undefined) {
        inspector = m[1]
        check()
      }
    })
    child.once('exit', (code, signal) => {
      if (url === undefined) fail(new Error(`${command} exited (${code ?? signal}) before listening\n${out}${err}`))
    })
    child.once('error', fail)
  })
}

/** SIGTERM, then SIGKILL after 8 s; resolves with the exit code or signal. */
function stopChild (child) {
  return new Promise(resolve => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? child.signalCode)
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve(code ?? signal)
    })
    child.kill('SIGTERM')
  })
}

function single (proc) {
  return {
    urls: [proc.url],
    pids: [proc.pid],
    inspectors: proc.inspector === undefined ? [] : [proc.inspector],
    commands: [proc.command],
    stop: async () => [await proc.stop()]
  }
}

/**
 * @param {object} options
 * @param {string} options.projectDir checkout whose bin/rtc-notify.js (and dist/) is measured
 * @param {string[]} options.projectArgs extra flags for rtc-notify
 */
export function makeTargets ({ projectDir, projectArgs }) {
  return {
    project: {
      description: 'this project\'s standalone server (bin/rtc-notify.js)',
      start: async ({ inspect, nodeArgs, cpus } = {}) => single(await startNode({
        args: [path.join(projectDir, 'bin/rtc-notify.js'), '-l', 'tcp:127.0.0.1:0', '-q', '--no-demo', ...projectArgs],
        ready: /rtc-notify listening on (http:\/\/\S+)/,
        cwd: projectDir,
        nodeArgs,
        inspect,
        cpus
      }))
    },
    'project-redis': {
      description: 'two project instances sharing rooms through redis-server (--redis); CPU of both and of redis-server',
      start: async ({ inspect, nodeArgs, cpus } = {}) => {
        const redis = await startRedis(cpus)
        const instance = () => startNode({
          args: [path.join(projectDir, 'bin/rtc-notify.js'), '-l', 'tcp:127.0.0.1:0', '-q', '--no-demo', '--redis', redis.url, ...projectArgs],
          ready: /rtc-notify listening on (http:\/\/\S+)/,
          cwd: projectDir,
          nodeArgs,
          inspect,
          cpus
        })
        let instances
        try {
          instances = [await instance(), await instance()]
        } catch (err) {
          await redis.stop()
          throw err
        }
        return {
          urls: instances.map(i => i.url),
          pids: [...instances.map(i => i.pid), redis.pid],
          inspectors: instances.flatMap(i => i.inspector === undefined ? [] : [i.inspector]),
          commands: [...instances.map(i => i.command), redis.command],
          stop: async () => {
            const codes = await Promise.all(instances.map(i => i.stop()))
            await redis.stop()
            return codes
          }
        }
      }
    },
    baseline: {
      description: 'bare ws relay (bench/baseline-relay.js)',
      start: async ({ inspect, nodeArgs, cpus } = {}) => single(await startNode({
        args: [path.join(benchDir, 'baseline-relay.js'), '--port', '0'],
        ready: /baseline-relay listening on (http:\/\/\S+)/,
        nodeArgs,
        inspect,
        cpus
      }))
    }
  }
}

/** Pairs of targets to compare: figures for both and the ratio a/b. */
export const modes = {
  local: { a: 'project', b: 'baseline', description: 'project server vs bare ws relay, one process each' },
  redis: {
    a: 'project-redis',
    b: 'project',
    description: 'two project instances on one Redis, the peers of every room split across them, vs one in-process project server',
    // The targets are for the project against the bare relay; this pair only reports.
    targets: false
  }
}

/** A free TCP port on 127.0.0.1 (redis-server cannot take port 0). */
function freePort () {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Starts a throwaway redis-server (no persistence) and waits until it accepts connections. */
async function startRedis (cpus) {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  const [file, argv] = cpus === undefined ? ['redis-server', args] : ['taskset', ['-c', cpus, 'redis-server', ...args]]
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`redis-server not ready after 10 s\n${out}`)), 10000)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', chunk => {
      out += chunk
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer)
        child.stdout.resume()
        resolve()
      }
    })
    child.once('error', reject)
    child.once('exit', code => reject(new Error(`redis-server exited (${code})\n${out}`)))
  })
  return { pid: child.pid, url: `redis://127.0.0.1:${port}`, command: [file, ...argv].join(' '), stop: () => stopChild(child) }
}
