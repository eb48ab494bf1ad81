import Testing
@testable import Tensor

/// The buffer pool never holds, with the live large buffers, more than twice the peak of live large buffers.
@Suite struct BufferPoolBoundTests {
  @Test func pooledAndLiveStayWithinTwiceThePeak() {
    let pool = BufferPool()
    let k = 1024
    let a = pool.take(20 * k), b = pool.take(20 * k), c = pool.take(20 * k)  // peak: 60K floats live
    for p in [a, b, c] { pool.give(p, 20 * k) }
    #expect(pool.statistics.pooled == 60 * k && pool.statistics.misses == 3)
    let d = pool.take(20 * k)  // a hit
    #expect(pool.statistics.hits == 1 && pool.statistics.pooled == 40 * k)
    pool.give(d, 20 * k)
    // New sizes, one at a time: 30K fits (90K ≤ 120K held); then 40K would make 130K, so the largest pooled
    // buffer (the 30K one) is evicted and the three 20K buffers stay.
    pool.give(pool.take(30 * k), 30 * k)
    #expect(pool.statistics.pooled == 90 * k)
    let e = pool.take(40 * k)
    #expect(pool.statistics.pooled == 60 * k && pool.statistics.misses == 5)
    pool.give(e, 40 * k)
    #expect(pool.statistics.pooled == 100 * k)
    // Buffers below the pooling size are never pooled.
    pool.give(pool.take(100), 100)
    #expect(pool.statistics.pooled == 100 * k)
    pool.drain()
    #expect(pool.statistics.pooled == 0)
  }
}
