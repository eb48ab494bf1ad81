/// Conversions from 16-bit float formats to Float32 by bit manipulation (portable: no `Float16` needed).
enum HalfPrecision {
  /// IEEE 754 binary16 bits to Float32, exact for every value including subnormals, infinities and NaN.
  @inline(__always)
  static func float(fromF16 h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = UInt32(h >> 10) & 0x1f
    let mantissa = UInt32(h & 0x3ff)
    if exponent == 0 {
      // Zero or subnormal: mantissa · 2^-24, exact in Float32.
      let magnitude = Float(mantissa) * 0x1p-24
      return Float(bitPattern: sign | magnitude.bitPattern)
    }
    if exponent == 0x1f {
      // Infinity or NaN (payload kept).
      return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
  }

  /// bfloat16 bits (the top half of a Float32) to Float32.
  @inline(__always)
  static func float(fromBF16 b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
  }

  /// Converts `count` little-endian 16-bit values at `source` (any alignment) into `destination`.
  static func convert(_ source: UnsafeRawPointer, count: Int, bfloat: Bool, into destination: UnsafeMutablePointer<Float>) {
    if bfloat {
      for i in 0..<count {
        destination[i] = float(fromBF16: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
      }
    } else {
      for i in 0..<count {
        destination[i] = float(fromF16: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
      }
    }
  }
}
