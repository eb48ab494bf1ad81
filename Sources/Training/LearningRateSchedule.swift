import Foundation

/// The reference learning-rate schedule for steps 1…maxSteps: linear warmup to `peak`, then either constant
/// or cosine decay to `minimum` (reached at maxSteps).
public struct LearningRateSchedule: Codable, Equatable, Sendable {
  public var peak: Float
  public var warmupSteps: Int
  public var maxSteps: Int
  public var decay: Bool
  public var minimum: Float

  public init(peak: Float, warmupSteps: Int, maxSteps: Int, decay: Bool, minimum: Float) {
    self.peak = peak
    self.warmupSteps = warmupSteps
    self.maxSteps = maxSteps
    self.decay = decay
    self.minimum = minimum
  }

  /// Learning rate used for optimisation step `step` (1-based).
  public func rate(at step: Int) -> Float {
    if step <= warmupSteps { return Float(Double(peak) * Double(step) / Double(warmupSteps)) }
    if !decay { return peak }
    if step >= maxSteps { return minimum }
    let ratio = Double(step - warmupSteps) / Double(maxSteps - warmupSteps)
    let coeff = 0.5 * (1 + cos(Double.pi * ratio))
    return Float(Double(minimum) + coeff * Double(peak - minimum))
  }
}
