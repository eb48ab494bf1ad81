import Foundation

/// The heap buffer behind a `Tensor`: `count` contiguous Float32 values, 64-byte aligned.
///
/// Buffers of 64 KiB and more are recycled through a small size-keyed pool, so that training loops,
/// which allocate the same activation sizes every step, do not pay for fresh pages each time.
public final class TensorStorage: @unchecked Sendable {
  public let count: Int
  public let pointer: UnsafeMutablePointer<Float>

  /// Allocates uninitialised storage for `count` floats.
  public init(uninitializedCount count: Int) {
    precondition(count >= 0, "negative element count \(count)")
    self.count = count
    self.pointer = BufferPool.shared.take(count)
  }

  /// Allocates storage for `count` floats set to zero.
  public convenience init(zeroedCount count: Int) {
    self.init(uninitializedCount: count)
    if count > 0 { memset(pointer, 0, count * MemoryLayout<Float>.stride) }
  }

  deinit { BufferPool.shared.give(pointer, count) }

  /// A new storage holding a copy of these values.
  public func copy() -> TensorStorage {
    let s = TensorStorage(uninitializedCount: count)
    if count > 0 { s.pointer.update(from: pointer, count: count) }
    return s
  }
}

/// Statistics of the buffer pool behind large tensors.
public enum TensorMemory {
  /// Large allocations served from the pool, allocated fresh, and the floats the pool holds now.
  public static var poolStatistics: (hits: Int, misses: Int, pooledFloats: Int) {
    let s = BufferPool.shared.statistics
    return (s.hits, s.misses, s.pooled)
  }
}

/// Recycles large float buffers by exact size. Thread-safe; bounded in total bytes.
final class BufferPool: @unchecked Sendable {
  static let shared = BufferPool()
  private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
  private var pooledFloats = 0
  private let lock = NSLock()
  /// Buffers smaller than this are not pooled (malloc handles them well).
  private let minimumCount = 16 * 1024
  /// At most this many floats (1 GiB) are held in the pool.
  private let capacity = 256 * 1024 * 1024

  /// Large buffers served from the pool / freshly allocated.
  private(set) var hits = 0, misses = 0

  func take(_ count: Int) -> UnsafeMutablePointer<Float> {
    let n = Swift.max(count, 1)
    if n >= minimumCount {
      lock.lock()
      if var list = free[n], let p = list.popLast() {
        free[n] = list.isEmpty ? nil : list
        pooledFloats -= n
        hits += 1
        lock.unlock()
        return p
      }
      misses += 1
      lock.unlock()
    }
    let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride, alignment: 64)
    return raw.bindMemory(to: Float.self, capacity: n)
  }

  func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
    let n = Swift.max(count, 1)
    if n >= minimumCount {
      lock.lock()
      if pooledFloats + n <= capacity {
        free[n, default: []].append(p)
        pooledFloats += n
        lock.unlock()
        return
      }
      lock.unlock()
    }
    UnsafeMutableRawPointer(p).deallocate()
  }

  /// (hits, misses, floats currently pooled).
  var statistics: (hits: Int, misses: Int, pooled: Int) {
    lock.lock()
    defer { lock.unlock() }
    return (hits, misses, pooledFloats)
  }

  /// Returns every pooled buffer to the system.
  func drain() {
    lock.lock()
    for (_, list) in free { for p in list { UnsafeMutableRawPointer(p).deallocate() } }
    free = [:]
    pooledFloats = 0
    lock.unlock()
  }
}
