// The judgment of other instances' liveness (lib/stores/redis-liveness.ts), without Redis: an
// instance is dead only when its marker stood still for a full period of trusted watching.
import t from 'tap'
import { goneMarker, LivenessJudge } from '../../lib/stores/redis-liveness.js'

const livenessMs = 6000

t.test('a marker that keeps changing keeps its instance alive', async t => {
  const judge = new LivenessJudge(livenessMs, 0)
  for (let now = 0, beat = 0; now <= 60_000; now += 1500, beat++) {
    t.same(judge.observe(['a'], [String(beat)], now), [])
  }
})

t.test('a marker unchanged for a full period of trusted watching: dead', async t => {
  const judge = new LivenessJudge(livenessMs, 0)
  t.same(judge.observe(['a', 'b'], ['1', '7'], 0), [], 'first sight')
  t.same(judge.observe(['a', 'b'], ['1', '8'], 5999), [], 'not yet a full period')
  t.same(judge.observe(['a', 'b'], ['1', '9'], 6000), [{ id: 'a', marker: '1' }], 'a stood still; b moved')
})

t.test('an instance first seen now is watched for a full period, whatever its marker', async t => {
  const judge = new LivenessJudge(livenessMs, 0)
  t.same(judge.observe(['a'], [null], 10_000), [])
  t.same(judge.observe(['a'], [null], 15_999), [])
  t.same(judge.observe(['a'], [null], 16_000), [{ id: 'a', marker: null }], 'a marker that is gone counts as unchanged')
})

t.test('after the judge could not rely on Redis, only what it saw since counts', async t => {
  const judge = new LivenessJudge(livenessMs, 0)
  judge.observe(['a'], ['1'], 0)
  // Redis stalled from 1000 to 11000: nobody could refresh.
  judge.distrust(11_000)
  t.same(judge.observe(['a'], ['1'], 11_000), [], 'the stall vouches for nobody\'s death')
  t.same(judge.observe(['a'], ['1'], 16_999), [])
  t.same(judge.observe(['a'], ['1'], 17_000), [{ id: 'a', marker: '1' }], 'a full trusted period later, it is dead')
})

t.test('an instance that says it is gone is dead at once', async t => {
  const judge = new LivenessJudge(livenessMs, 0)
  t.same(judge.observe(['a'], [goneMarker], 0), [{ id: 'a', marker: goneMarker }])
  t.same(judge.observe(['a'], [goneMarker], 1), [{ id: 'a', marker: goneMarker }], 'and stays so until reaped')
})

t.test('instances no longer listed are forgotten', async t => {
  const judge = new LivenessJudge(livenessMs, 0)
  judge.observe(['a'], ['1'], 0)
  judge.observe([], [], 3000)
  t.same(judge.observe(['a'], ['1'], 6000), [], 'listed again: watched afresh')
})
