import Foundation
import Tensor

/// A growable scratch array of Float32 owned by one thread; `pointer` is valid until the next `reserve`.
final class FloatBuffer {
  private(set) var pointer: UnsafeMutablePointer<Float>
  private(set) var capacity: Int

  init(capacity: Int = 0) {
    self.capacity = Swift.max(capacity, 16)
    pointer = .allocate(capacity: self.capacity)
  }

  deinit { pointer.deallocate() }

  /// Ensures room for `count` values (contents are kept when `keep`, otherwise undefined).
  @discardableResult
  func reserve(_ count: Int, keep: Bool = false) -> UnsafeMutablePointer<Float> {
    if count > capacity {
      let newCapacity = Swift.max(count, capacity * 2)
      let p = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
      if keep { p.update(from: pointer, count: capacity) }
      pointer.deallocate()
      pointer = p
      capacity = newCapacity
    }
    return pointer
  }

  /// Ensures room for `count` values and zeroes the first `count`.
  @discardableResult
  func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
    reserve(count)
    if count > 0 { memset(pointer, 0, count * MemoryLayout<Float>.stride) }
    return pointer
  }
}
