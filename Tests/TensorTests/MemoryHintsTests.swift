import Foundation
import Testing
@testable import Tensor

/// The cache hints of the attention kernels: streamed copies equal ordinary ones at every alignment, and the
/// prefetch shares cover each range's cache lines exactly once.
@Suite struct MemoryHintsTests {
  /// Streamed copies at every float offset from a 64-byte boundary, of lengths below, at and across lines.
  @Test func streamedCopyEqualsSource() {
    let capacity = 16 * 12
    let raw = UnsafeMutableRawPointer.allocate(byteCount: (capacity + 32) * 4, alignment: 64)
    defer { raw.deallocate() }
    let dst = raw.bindMemory(to: Float.self, capacity: capacity + 32)
    let src = (0..<capacity).map { Float($0) * 0.5 - 7 }
    for offset in 0..<16 {
      for count in [0, 1, 5, 15, 16, 17, 31, 32, 33, 100, capacity - 16] {
        dst.update(repeating: .nan, count: capacity + 32)
        src.withUnsafeBufferPointer { StreamingStore.copy($0.baseAddress!, to: dst + offset, count: count) }
        StreamingStore.fence()
        let copied = Array(UnsafeBufferPointer(start: dst + offset, count: count))
        #expect(copied == Array(src.prefix(count)), "offset \(offset) count \(count)")
        #expect((dst + offset + count).pointee.isNaN && (offset == 0 || (dst + offset - 1).pointee.isNaN),
                "offset \(offset) count \(count): wrote outside its range")
      }
    }
  }

  /// Shares partition 0..<count in order, whatever the unit and the number of parts.
  @Test(arguments: [(0, 3, 1), (1, 4, 1), (7, 3, 1), (128, 32, 1), (100, 32, 1), (24_576, 4, 64), (24_577, 4, 64), (100, 7, 64)])
  func sharesPartitionTheRange(count: Int, parts: Int, unit: Int) {
    let shares = (0..<(parts + 2)).map { PrefetchRanges.share($0, of: parts, count: count, unit: unit) }
    #expect(shares.map(\.count).reduce(0, +) == count)
    for (a, b) in zip(shares, shares.dropFirst()) { #expect(a.upperBound == b.lowerBound || b.isEmpty) }
    #expect(shares[0].lowerBound == 0 && shares[parts...].allSatisfy(\.isEmpty))
    for part in shares.dropLast(3) where !part.isEmpty && part.upperBound < count { #expect(part.count % unit == 0) }
  }

  /// The lines fetched over a loop's steps are the ranges' lines, each once, three ranges at most.
  @Test func prefetchCoversEveryLineOnce() {
    let raw = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 64)
    defer { raw.deallocate() }
    var ahead = PrefetchRanges()
    ahead.add(raw + 10, bytes: 1000)                         // lines 0...15: bytes 10 to 1009
    ahead.add(raw + 4096, bytes: 64 * 50, share: 1, of: 4)    // 50 lines in 4 shares of 13: lines 13..<26
    ahead.add(raw + 8192, bytes: 64)                         // one line
    ahead.add(raw + 9000, bytes: 64)                         // a fourth range is ignored
    let base = Int(bitPattern: UInt(bitPattern: raw) / 64)
    let steps = 5
    var fetched: [[Int]] = [[], [], []]
    for step in 0..<steps {
      let ranges = ahead.lines(step: step, of: steps)
      #expect(ranges.count == 3)
      for (r, lines) in ranges.enumerated() { fetched[r] += lines.map { $0 - base } }
    }
    #expect(fetched[0] == Array(0...15))
    #expect(fetched[1] == Array((64 + 13)..<(64 + 26)))
    #expect(fetched[2] == [128])
    var empty = PrefetchRanges()
    empty.add(raw, bytes: 0)
    #expect(empty.lines(step: 0, of: 1).isEmpty)
  }
}
