import t from 'tap'
import { SeatLedger } from '../../lib/seat-ledger.js'

t.test('seats are counted per room and in all, against the caps', async t => {
  const ledger = new SeatLedger({ maxRooms: 2, maxPeers: 3 })
  ledger.take('a')
  ledger.take('a')
  ledger.take('b')
  t.same(ledger.stats(), { rooms: 2, peers: 3 })
  t.throws(() => ledger.take('a'), { code: 'FST_RTC_NOTIFY_AT_CAPACITY', message: 'server at capacity: maxPeers reached' })
  ledger.give('a')
  t.throws(() => ledger.take('c'), { message: 'server at capacity: maxRooms reached' })
  ledger.take('a')
  ledger.give('b')
  t.same(ledger.stats(), { rooms: 1, peers: 2 })
})
