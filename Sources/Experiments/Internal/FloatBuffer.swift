import Foundation
import Tensor

/// A growable scratch array of Float32 owned by one thread; `pointer` is valid until the next `reserve`.
/// Counted as a work array in `TensorMemory`.
final class FloatBuffer {
  private(set) var pointer: UnsafeMutablePointer<Float>
  private(set) var capacity: Int

  init(capacity: Int = 0) {
    self.capacity = Swift.max(capacity, 16)
    pointer = .allocate(capacity: self.capacity)
    TensorMemory.workArrayChanged(by: self.capacity)
  }

  deinit {
    pointer.deallocate()
    TensorMemory.workArrayChanged(by: -capacity)
  }

  /// Ensures room for `count` values (contents are kept when `keep`, otherwise undefined). A buffer whose
  /// contents are kept doubles (so that appending is amortised); otherwise it grows to the count asked for
  /// and an eighth more, so that sizes varying from call to call settle without holding twice what they need.
  @discardableResult
  func reserve(_ count: Int, keep: Bool = false) -> UnsafeMutablePointer<Float> {
    if count > capacity {
      let newCapacity = keep ? Swift.max(count, capacity * 2) : count + count / 8
      let p = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
      if keep { p.update(from: pointer, count: capacity) }
      pointer.deallocate()
      TensorMemory.workArrayChanged(by: newCapacity - capacity)
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

/// One thread's numbered arrays of equal size, each allocated when first used and kept for reuse: slot
/// storage that grows one slot at a time without copying the slots filled so far. Counted as work arrays in
/// `TensorMemory`.
final class SlotArrays {
  private var slots: [UnsafeMutablePointer<Float>] = []
  /// Floats per slot.
  private(set) var slotSize = 0

  deinit { release() }

  /// Slot `index` of `size` floats (slots of another size are released first); its contents are undefined.
  func slot(_ index: Int, size: Int) -> UnsafeMutablePointer<Float> {
    if size != slotSize {
      release()
      slotSize = size
    }
    while slots.count <= index {
      slots.append(.allocate(capacity: Swift.max(size, 1)))
      TensorMemory.workArrayChanged(by: size)
    }
    return slots[index]
  }

  private func release() {
    for p in slots { p.deallocate() }
    TensorMemory.workArrayChanged(by: -slots.count * slotSize)
    slots.removeAll()
  }
}
