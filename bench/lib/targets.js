// The servers the bench measures ("targets") and what it compares side by side ("modes").
//
// A target starts fresh processes for one measurement and says where to connect:
//   start({ inspect, nodeArgs, cpus, roomSize }) -> { urls: string[], pids: number[], inspectors: string[], stop() }
// `urls` are the servers' base URLs (which peer joins which: the target's `placement`, see
// load.js), `pids` the processes whose CPU time and RSS are the server's, `inspectors` their
// V8 inspector URLs when `inspect` was asked (for garbage collection before reading RSS);
// `cpus` (e.g. '1') pins the server processes to those CPUs with taskset; `roomSize` > 2 asks
// for group rooms. A target may name the `protocol` its peers speak (lib/protocols.js; default
// notify) and say that it has no rooms of N (`groups: false`).
//
// A mode is a list of targets (columns) and the ratios between them that it reports, some
// judged against the targets.
import { execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { inspectorLine } from './inspector.js'
import { startRedisServer } from './redis-server.js'

const benchDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
export const repoDir = path.dirname(benchDir)

/** What `rtc-notify --help` of a checkout prints (empty if it cannot run): which flags it has. */
export function serverUsage (dir) {
  try {
    return execFileSync(process.execPath, [path.join(dir, 'bin/rtc-notify.js'), '--help'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return ''
  }
}

// The bench is one client address holding thousands of sockets and peers: the server's caps
// per process and per address are lifted.
const lifts = [
  ['--max-connections', '0'], ['--max-connections-per-ip', '0'], ['--ip-message-rate', '0'], ['--ip-byte-rate', '0'],
  ['--max-peers', '1000000'], ['--max-rooms', '1000000']
]

/**
 * The flags that lift the caps a checkout's rtc-notify has (an older one would refuse the others).
 * @param {string} help what its --help prints
 */
export function liftedCaps (help) {
  return lifts.filter(([flag]) => help.includes(flag)).flat()
}

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
    // Every inspector URL the process prints (its own; a cluster's workers print theirs too).
    const inspectors = []
    let partial = ''
    const timer = setTimeout(() => fail(new Error(`${command}: not listening after 20 s\n${out}${err}`)), 20000)
    const fail = e => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(e)
    }
    const check = () => {
      if (url === undefined || (inspect && inspectors.length === 0)) return
      clearTimeout(timer)
      child.stdout.removeAllListeners('data')
      child.stdout.resume()
      resolve({ pid: child.pid, url, inspectors, command, stop: () => stopChild(child) })
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
      partial += chunk
      for (let nl = partial.indexOf('\n'); nl !== -1; nl = partial.indexOf('\n')) {
        const m = inspectorLine.exec(partial.slice(0, nl))
        partial = partial.slice(nl + 1)
        if (m !== null) {
          inspectors.push(m[1])
          check()
        }
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
    inspectors: proc.inspectors,
    commands: [proc.command],
    stop: async () => [await proc.stop()]
  }
}

/** The processes of a target as one: every URL, every pid, every inspector; stopped together. */
function together (procs, redis) {
  return {
    urls: procs.map(p => p.url),
    pids: [...procs.map(p => p.pid), ...(redis === undefined ? [] : [redis.pid])],
    inspectors: procs.flatMap(p => p.inspectors),
    commands: [...procs.map(p => p.command), ...(redis === undefined ? [] : [redis.command])],
    stop: async () => {
      const codes = await Promise.all(procs.map(p => p.stop()))
      if (redis !== undefined) await redis.stop()
      return codes
    }
  }
}

/**
 * @param {object} options
 * @param {string} options.projectDir checkout whose bin/rtc-notify.js (and dist/) is measured
 * @param {string[]} options.projectArgs extra flags for rtc-notify
 * @param {string} [options.serverHelp] what its `rtc-notify --help` prints: which flags it has
 * @param {number} [options.workers] worker processes of the workers target (default 2)
 */
export function makeTargets ({ projectDir, projectArgs, serverHelp = '', workers = 2 }) {
  // Until rooms are routed by id to one worker, --workers shares them through Redis.
  const workersNeedRedis = /--workers[^\n]*needs --redis/.test(serverHelp)

  /** One rtc-notify process, with rooms of `roomSize`. */
  function startProject ({ inspect, nodeArgs, cpus, roomSize = 2, extra = [] }) {
    const flags = ['-l', 'tcp:127.0.0.1:0', '-q', '--no-demo', ...extra, ...projectArgs]
    const args = [path.join(projectDir, 'bin/rtc-notify.js'), ...flags, ...(roomSize === 2 ? [] : ['--room-size', String(roomSize)])]
    return startNode({ args, ready: /rtc-notify listening on (http:\/\/\S+)/, cwd: projectDir, nodeArgs, inspect, cpus })
  }

  /** redis-server and two rtc-notify instances on it; where the peers go is the target's placement. */
  async function startTwoInstances (options) {
    const redis = await startRedis(options.cpus)
    const procs = []
    try {
      for (let i = 0; i < 2; i++) procs.push(await startProject({ ...options, extra: ['--redis', redis.url] }))
    } catch (err) {
      await Promise.all(procs.map(p => p.stop()))
      await redis.stop()
      throw err
    }
    return together(procs, redis)
  }

  /** bench/baseline-relay.js with these flags, in rooms of `roomSize`. */
  function startRelay (flags) {
    return async ({ inspect, nodeArgs, cpus, roomSize = 2 } = {}) => single(await startNode({
      args: [path.join(benchDir, 'baseline-relay.js'), '--port', '0', ...flags, '--room-size', String(roomSize)],
      ready: /baseline-relay listening on (http:\/\/\S+)/,
      nodeArgs,
      inspect,
      cpus
    }))
  }

  return {
    project: {
      description: 'this project\'s standalone server (bin/rtc-notify.js), one process',
      start: async (options = {}) => single(await startProject(options))
    },
    floor: {
      description: 'the validating floor: a bare ws relay that runs JSON.parse on each frame (bench/baseline-relay.js --parse)',
      protocol: 'relay',
      start: startRelay(['--parse'])
    },
    bare: {
      description: 'bare ws relay, frames forwarded untouched (bench/baseline-relay.js)',
      protocol: 'relay',
      start: startRelay([])
    },
    peerjs: {
      description: 'PeerJS server, npm peer (bench/peerjs-server.js), driven with its own protocol and frames of the same sizes',
      protocol: 'peerjs',
      groups: false,
      start: async ({ inspect, nodeArgs, cpus } = {}) => single(await startNode({
        args: [path.join(benchDir, 'peerjs-server.js'), '--port', '0'],
        ready: /peerjs-server listening on (http:\/\/\S+)/,
        nodeArgs,
        inspect,
        cpus
      }))
    },
    colocated: {
      description: 'two project instances sharing rooms through redis-server (--redis), both peers of every room on the same instance (rooms alternate between them); CPU of both and of redis-server',
      placement: 'colocated',
      start: async (options = {}) => startTwoInstances(options)
    },
    split: {
      description: 'two project instances sharing rooms through redis-server (--redis), the peers of every room on different instances; CPU of both and of redis-server',
      placement: 'split',
      start: async (options = {}) => startTwoInstances(options)
    },
    workers: {
      description: `rtc-notify --workers ${workers}${workersNeedRedis ? ' --redis (this checkout\'s --workers needs it)' : ''}: CPU of the primary, its workers${workersNeedRedis ? ' and redis-server' : ''}`,
      start: async ({ nodeArgs, cpus, roomSize } = {}) => {
        if (!serverHelp.includes('--workers')) throw new Error('this checkout\'s rtc-notify has no --workers')
        const redis = workersNeedRedis ? await startRedis(cpus) : undefined
        let primary
        try {
          // No inspector: the workers would inherit --inspect and each take a port of its own;
          // RSS per idle peer is then read without collecting garbage first.
          primary = await startProject({ nodeArgs, cpus, roomSize, extra: ['--workers', String(workers), ...(redis === undefined ? [] : ['--redis', redis.url])] })
        } catch (err) {
          await redis?.stop()
          throw err
        }
        // The primary prints its URL once every worker listens: they are all there by now.
        const children = childPids(primary.pid)
        const t = together([primary], redis)
        t.pids.push(...children)
        t.workerPids = children
        return t
      }
    }
  }
}

/**
 * What a mode compares: `columns` (targets, the first is the subject), the ratios it reports
 * (`of`/`to`, each with the targets for some figures), its scenarios, and the
 * scenarios some columns skip (`skip`: a floor whose idle scenario is the bare relay's, PeerJS
 * that has no rooms).
 */
export const modes = {
  local: {
    description: 'the project server, the validating floor (ws + JSON.parse), PeerJS server and the bare ws relay, one process each',
    columns: ['project', 'floor', 'peerjs', 'bare'],
    scenarios: ['relay200', 'relay4k', 'group200', 'group4k', 'latency', 'idle'],
    skip: { floor: ['idle'], peerjs: ['group200', 'group4k'] },
    ratios: [
      { of: 'project', to: 'floor', targets: { cpuUsPerMsg200: { max: 1.05 }, cpuUsPerMsg4k: { max: 1.05 } } },
      { of: 'project', to: 'peerjs', targets: { cpuUsPerMsg200: { max: 0.9 }, cpuUsPerMsg4k: { max: 0.9 } } },
      // Issue 5's targets that still stand; its CPU target against the bare relay is retired
      // (issue 14: no server that validates can meet it).
      { of: 'project', to: 'bare', targets: { rssPerIdlePeerKiB: { max: 1.05 }, joinsPerSec: { min: 0.9 } } }
    ]
  },
  redis: {
    description: 'two project instances on one Redis, rooms co-located (both peers on one instance) and split (one peer on each), against one in-process project server',
    columns: ['project', 'colocated', 'split'],
    scenarios: ['relay200', 'relay4k', 'latency', 'idle'],
    ratios: [
      { of: 'colocated', to: 'project', targets: { cpuUsPerMsg200: { max: 1.2 }, cpuUsPerMsg4k: { max: 1.2 }, joinsPerSec: { min: 0.8 } } },
      { of: 'split', to: 'project', targets: { cpuUsPerMsg200: { max: 1.6 }, cpuUsPerMsg4k: { max: 1.6 } } }
    ]
  },
  workers: {
    description: 'rtc-notify --workers N (default 2) against one process',
    columns: ['project', 'workers'],
    scenarios: ['relay200', 'relay4k', 'latency', 'idle'],
    ratios: [{ of: 'workers', to: 'project', targets: {} }]
  }
}

/** The pids of a process's children (/proc/<pid>/task/<tid>/children, else a scan of /proc). */
function childPids (pid) {
  const children = []
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim()
      if (text !== '') children.push(...text.split(/\s+/).map(Number))
    }
    return children
  } catch {}
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {}
  }
  return children
}

/** Starts a throwaway redis-server, stopped with the other processes of a target. */
async function startRedis (cpus) {
  const { child, ...redis } = await startRedisServer({ cpus })
  return { ...redis, stop: () => stopChild(child) }
}
