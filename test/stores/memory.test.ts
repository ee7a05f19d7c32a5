// The RoomStore contract, against the in-process store.
import t from 'tap'
import { memoryStore } from '../../lib/index.js'
import { conformance, testContext } from './conformance.js'

conformance(t, {
  async open (t, context) {
    const store = memoryStore()
    await store.start(testContext(context))
    t.teardown(() => store.close())
    return [store, store]
  }
})
