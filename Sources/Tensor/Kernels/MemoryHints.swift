import CMemoryHints

/// Up to three ranges of memory a loop asks the CPU to fetch into cache ahead of their use, a share of their
/// cache lines at each of its steps, so that the fetches from memory overlap the loop's arithmetic instead of
/// stalling the copies that later read them (a whole range at once would queue behind the core's few
/// outstanding misses). Hints only: they change no value.
struct PrefetchRanges {
  private var starts: (UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?) = (nil, nil, nil)
  private var lines: (Int, Int, Int) = (0, 0, 0)
  private var count = 0

  init() {}

  /// Adds `bytes` bytes from `start` on (ignored once three ranges are held, or when empty).
  mutating func add(_ start: UnsafeRawPointer, bytes: Int) {
    guard bytes > 0 else { return }
    let first = UInt(bitPattern: start) & ~63, last = (UInt(bitPattern: start) + UInt(bytes) - 1) & ~63
    let n = Int((last - first) / 64) + 1, p = UnsafeRawPointer(bitPattern: first)
    switch count {
    case 0: starts.0 = p; lines.0 = n
    case 1: starts.1 = p; lines.1 = n
    case 2: starts.2 = p; lines.2 = n
    default: return
    }
    count += 1
  }

  /// Adds share `index` of `shares` of the `bytes` bytes from `start` on (`share(_:of:count:unit:)` in
  /// lines of 64 bytes).
  mutating func add(_ start: UnsafeRawPointer, bytes: Int, share index: Int, of shares: Int) {
    let part = Self.share(index, of: shares, count: bytes, unit: 64)
    add(start + part.lowerBound, bytes: part.count)
  }

  /// Part `index` of `parts` of 0..<count: consecutive runs of whole `unit`s, equal but for the last ones,
  /// which together cover 0..<count once (empty for the parts past the end).
  static func share(_ index: Int, of parts: Int, count: Int, unit: Int = 1) -> Range<Int> {
    let per = ((count + unit - 1) / unit + parts - 1) / parts * unit
    let from = Swift.min(count, index * per)
    return from..<Swift.min(count, from + per)
  }

  /// Fetches step `step`'s share of every range's lines, for a loop of `steps` steps.
  @inline(__always) func issue(step: Int, of steps: Int) {
    guard count > 0 else { return }
    Self.issue(starts.0, lines.0, step, steps)
    if count > 1 { Self.issue(starts.1, lines.1, step, steps) }
    if count > 2 { Self.issue(starts.2, lines.2, step, steps) }
  }

  @inline(__always) private static func issue(_ start: UnsafeRawPointer?, _ lines: Int, _ step: Int, _ steps: Int) {
    guard let start else { return }
    for line in share(step, of: steps, count: lines) { gc_prefetch(start + line * 64) }
  }

  /// The cache lines step `step` of `steps` fetches, range by range, as line numbers (address / 64): what
  /// `issue` fetches, for tests.
  func lines(step: Int, of steps: Int) -> [Range<Int>] {
    [(starts.0, lines.0), (starts.1, lines.1), (starts.2, lines.2)].prefix(count).map { start, n in
      let part = Self.share(step, of: steps, count: n)
      let offset = Int(bitPattern: UInt(bitPattern: start) / 64)
      return (offset + part.lowerBound)..<(offset + part.upperBound)
    }
  }
}

/// Copies to memory that will not be read again soon (a kernel's outputs, far larger than the caches): whole
/// cache lines of the destination are written by non-temporal stores, which skip reading the lines first.
enum StreamingStore {
  /// dst[i] = src[i] for i < count; the same values as `update(from:count:)`.
  @inline(__always)
  static func copy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
    gc_stream_floats(dst, src, count)
  }

  /// Orders the calling thread's streamed stores before its later stores: call before the data is handed to
  /// other threads.
  @inline(__always) static func fence() { gc_store_fence() }
}
