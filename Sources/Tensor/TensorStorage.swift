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
    if TensorMemory.tracking { TensorMemory.tracker.change(by: count) }
  }

  /// Allocates storage for `count` floats set to zero.
  public convenience init(zeroedCount count: Int) {
    self.init(uninitializedCount: count)
    if count > 0 { memset(pointer, 0, count * MemoryLayout<Float>.stride) }
  }

  deinit {
    if TensorMemory.tracking { TensorMemory.tracker.change(by: -count) }
    BufferPool.shared.give(pointer, count)
  }

  /// A new storage holding a copy of these values.
  public func copy() -> TensorStorage {
    let s = TensorStorage(uninitializedCount: count)
    if count > 0 { s.pointer.update(from: pointer, count: count) }
    return s
  }
}

/// Statistics of the buffer pool behind large tensors, and (with GPTCIRCUITS_TENSOR_MEMORY=1 in the
/// environment) the peaks of the bytes held by live tensors and by the work arrays that kernels keep outside
/// tensors, printed on stderr at exit with the process's peak RSS — to compare what a tool holds with what its
/// tensors need.
public enum TensorMemory {
  /// Large allocations served from the pool, allocated fresh, and the floats the pool holds now.
  public static var poolStatistics: (hits: Int, misses: Int, pooledFloats: Int) {
    let s = BufferPool.shared.statistics
    return (s.hits, s.misses, s.pooled)
  }

  /// Whether live tensor bytes are tracked (GPTCIRCUITS_TENSOR_MEMORY=1).
  static let tracking: Bool = {
    guard ProcessInfo.processInfo.environment["GPTCIRCUITS_TENSOR_MEMORY"] == "1" else { return false }
    atexit {
      let t = TensorMemory.tracker.snapshot
      let mib = { (floats: Int) in Double(floats) * 4 / 1_048_576 }
      var line = String(format: "tensor memory: peak %.1f MiB in live tensors, %.1f MiB in live tensors and work arrays, "
                          + "%.1f MiB in live tensors and the pool together",
                        mib(t.peakLive), mib(t.peakNeeded), mib(t.peakHeld))
      if let hwm = TensorMemory.peakResidentKiB { line += String(format: "; peak RSS %.1f MiB", Double(hwm) / 1024) }
      FileHandle.standardError.write(Data((line + "\n").utf8))
    }
    return true
  }()

  /// Records that a kernel's work array (memory outside tensors that a computation needs, such as a thread's
  /// scratch) of `floats` 4-byte values was allocated (positive) or freed (negative); counted when `tracking`.
  public static func workArrayChanged(by floats: Int) {
    if tracking { tracker.changeWork(by: floats) }
  }

  /// The process's peak resident set (VmHWM of /proc/self/status) in KiB, where the system reports it.
  public static var peakResidentKiB: Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      return line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
    }
    return nil
  }

  static let tracker = Tracker()

  /// Floats in live tensors and work arrays now and at their peaks; floats in live tensors and the pool
  /// together at their peak.
  final class Tracker: @unchecked Sendable {
    private let lock = NSLock()
    private var live = 0, work = 0, peakLive = 0, peakNeeded = 0, peakHeld = 0

    func change(by floats: Int) {
      lock.lock()
      live += floats
      peakLive = Swift.max(peakLive, live)
      peakNeeded = Swift.max(peakNeeded, live + work)
      peakHeld = Swift.max(peakHeld, live + BufferPool.shared.pooledEstimate)
      lock.unlock()
    }

    func changeWork(by floats: Int) {
      lock.lock()
      work += floats
      peakNeeded = Swift.max(peakNeeded, live + work)
      lock.unlock()
    }

    var snapshot: (peakLive: Int, peakNeeded: Int, peakHeld: Int) {
      lock.lock()
      defer { lock.unlock() }
      return (peakLive, peakNeeded, peakHeld)
    }
  }
}

/// Recycles large float buffers by exact size. Thread-safe and bounded: the floats it holds plus those of live
/// large buffers never exceed twice the peak of live large buffers so far (nor 1 GiB in the pool), so recycling
/// never makes a process hold more than twice what its tensors needed at their peak. A training loop, which
/// allocates the same sizes every step, gets every buffer back from the pool (its steps need up to ~1.8× their
/// peak in flight and pooled: buffers freed early in a step are taken again later); a run of new sizes (an
/// evaluation, a generation growing its sequence) evicts pooled buffers, largest first, instead of adding to
/// them. Large buffers are mapped and unmapped directly, so that memory they release goes back to the system
/// at once (malloc would keep freed chunks of its heap resident).
final class BufferPool: @unchecked Sendable {
  static let shared = BufferPool()
  private var free: [Int: [UnsafeMutablePointer<Float>]] = [:]
  private var pooledFloats = 0
  /// Floats in large buffers handed out and not yet returned, and their peak.
  private var liveFloats = 0, peakLiveFloats = 0
  private let lock = NSLock()
  /// Buffers smaller than this are not pooled (malloc handles them well).
  private let minimumCount = 16 * 1024
  /// At most this many floats (1 GiB) are held in the pool.
  private let capacity = 256 * 1024 * 1024

  /// Large buffers served from the pool / freshly allocated.
  private(set) var hits = 0, misses = 0

  func take(_ count: Int) -> UnsafeMutablePointer<Float> {
    let n = Swift.max(count, 1)
    var evicted: [UnsafeMutablePointer<Float>] = [], evictedSizes: [Int] = []
    if n >= minimumCount {
      lock.lock()
      liveFloats += n
      if var list = free[n], let p = list.popLast() {
        free[n] = list.isEmpty ? nil : list
        pooledFloats -= n
        hits += 1
        lock.unlock()
        return p
      }
      misses += 1
      peakLiveFloats = Swift.max(peakLiveFloats, liveFloats)
      // Keep live + pooled within twice the peak: evict the largest pooled buffers first.
      while pooledFloats > 0 && liveFloats + pooledFloats > 2 * peakLiveFloats, let size = free.keys.max() {
        var list = free[size]!
        evicted.append(list.removeLast())
        evictedSizes.append(size)
        free[size] = list.isEmpty ? nil : list
        pooledFloats -= size
      }
      lock.unlock()
    }
    for (p, size) in zip(evicted, evictedSizes) { Self.release(p, pooledCount: size) }
    guard n >= minimumCount else {
      let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride, alignment: 64)
      return raw.bindMemory(to: Float.self, capacity: n)
    }
    let bytes = n * MemoryLayout<Float>.stride
    guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | Self.anonymous, -1, 0), raw != MAP_FAILED else {
      fatalError("cannot allocate \(bytes) bytes for a tensor: \(String(cString: strerror(errno)))")
    }
    return raw.bindMemory(to: Float.self, capacity: n)
  }

  #if canImport(Glibc)
  private static let anonymous = MAP_ANONYMOUS
  #else
  private static let anonymous = MAP_ANON
  #endif

  /// Returns a large (mapped) buffer of `count` floats to the system.
  private static func release(_ p: UnsafeMutablePointer<Float>, pooledCount count: Int) {
    munmap(UnsafeMutableRawPointer(p), count * MemoryLayout<Float>.stride)
  }

  func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
    let n = Swift.max(count, 1)
    if n >= minimumCount {
      lock.lock()
      liveFloats -= n
      if pooledFloats + n <= capacity && liveFloats + pooledFloats + n <= 2 * peakLiveFloats {
        free[n, default: []].append(p)
        pooledFloats += n
        lock.unlock()
        return
      }
      lock.unlock()
      Self.release(p, pooledCount: n)
      return
    }
    UnsafeMutableRawPointer(p).deallocate()
  }

  /// The floats pooled now, read without the lock (for memory statistics only).
  var pooledEstimate: Int { pooledFloats }

  /// (hits, misses, floats currently pooled).
  var statistics: (hits: Int, misses: Int, pooled: Int) {
    lock.lock()
    defer { lock.unlock() }
    return (hits, misses, pooledFloats)
  }

  /// Returns every pooled buffer to the system.
  func drain() {
    lock.lock()
    for (size, list) in free { for p in list { Self.release(p, pooledCount: size) } }
    free = [:]
    pooledFloats = 0
    lock.unlock()
  }
}
