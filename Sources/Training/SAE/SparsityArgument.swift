import Foundation
import SAE

/// The sparsity coefficients λ of a command line (`--sparsity 1e-3` or `--sparsity 1.8e-3,1.2e-3,3.3e-3,2.2e-3`)
/// and the JSAE run names derived from them.
///
/// Values are kept as `Double`, as typed, so names format them exactly as the reference's Python does
/// (`f"{λ:.1e}"` of the parsed float); training uses them as `Float`.
public struct SparsityArgument: Equatable, Sendable {
  /// λ per SAE (per pair for `jsae` / `jsae_block`), expanded from a single value when one was given.
  public var values: [Double]

  /// λ as the training configuration stores it.
  public var floats: [Float] { values.map { Float($0) } }

  public init(values: [Double]) { self.values = values }

  /// Parses one value for all, or comma-separated values, one per SAE (one per pair for `jsae` /
  /// `jsae_block`). Throws a one-line error for a value that is not a finite number ≥ 0 or a wrong count.
  public init(parsing text: String, for model: SAEModelConfig) throws {
    var parsed: [Double] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
      let s = part.trimmingCharacters(in: .whitespaces)
      guard let v = Double(s), v.isFinite, v >= 0 else { throw TrainingError("sparsity coefficient '\(s)' is not a number ≥ 0") }
      parsed.append(v)
    }
    let n = SAETrainingConfig.sparsityCount(for: model)
    if parsed.count == 1 {
      values = [Double](repeating: parsed[0], count: n)
      return
    }
    guard parsed.count == n else {
      let unit = n == model.saeKeys.count ? "SAE" : "pair"
      throw TrainingError("the sparsity list has \(parsed.count) values; \(model.name) needs 1 or \(n) (one per \(unit))")
    }
    values = parsed
  }

  /// λ formatted as Python's `f"{λ:.1e}"` (`1.0e-03`, `0.0e+00`).
  public static func format(_ lambda: Double) -> String { String(format: "%.1e", lambda) }

  /// The run-name suffix `-sparse-{λ:.1e}`; when the pairs have different λ, the formatted values joined by
  /// `_` in pair order (`-sparse-1.8e-03_1.2e-03_3.3e-03_2.2e-03`, as the reference's `jsae_block.py`).
  public var nameSuffix: String {
    let uniform = values.dropFirst().allSatisfy { $0 == values[0] }
    return "-sparse-" + (uniform ? Self.format(values[0]) : values.map(Self.format).joined(separator: "_"))
  }

  /// Whether runs of `model` get the `-sparse-…` suffix by default (`jsae`, `jsae_block`).
  public static func namesRuns(of model: SAEModelConfig) -> Bool {
    model.saeVariant.isJSAE
  }

  /// The default run name of a `jsae` / `jsae_block` run: `<base>-sparse-{λ:.1e}` (base = the preset's or
  /// config file's name). An explicit `--name` replaces it; the reference instead overwrites the suffixed
  /// name with a default one (a bug not reproduced).
  public static func defaultRunName(base: String, lambdas: SparsityArgument) -> String { base + lambdas.nameSuffix }
}
