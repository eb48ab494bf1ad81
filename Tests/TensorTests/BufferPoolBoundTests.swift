import Testing
@testable import Tensor

/// The buffer pool never holds more than the peak of live large buffers, counting what is live.
@Suite struct BufferPoolBoundTests {
  @Test func pooledAndLiveStayWithinThePeak() {
    let pool = BufferPool()
    let small = 20 * 1024, large = 30 * 1024
    let a = pool.take(small), b = pool.take(small), c = pool.take(small)  // peak 60K floats live
    for p in [a, b, c] { pool.give(p, small) }
    #expect(pool.statistics.pooled == 3 * small && pool.statistics.misses == 3)
    let d = pool.take(small)  // a hit: live 20K + pooled 40K
    #expect(pool.statistics.hits == 1 && pool.statistics.pooled == 2 * small)
    // A new size: live 50K, so at most 10K may stay pooled; both 20K buffers are evicted.
    let e = pool.take(large)
    #expect(pool.statistics.pooled == 0 && pool.statistics.misses == 4)
    pool.give(d, small)
    pool.give(e, large)
    #expect(pool.statistics.pooled == small + large)
    // Buffers below the pooling size are never pooled.
    pool.give(pool.take(100), 100)
    #expect(pool.statistics.pooled == small + large)
    pool.drain()
    #expect(pool.statistics.pooled == 0)
  }
}
