import Foundation

/// What /proc/cpuinfo says about the CPU this process runs on.
public enum CPUInfo {
  /// `lscpu`'s model name (the `model name` line), or "unknown".
  public static let modelName: String = field("model name")?.trimmingCharacters(in: .whitespaces) ?? "unknown"

  /// The instruction-set extensions of the `flags` line ("avx2", "avx512f", …); empty when unknown.
  public static let flags: Set<String> = Set((field("flags") ?? "").split(separator: " ").map(String.init))

  /// The value of the first line whose name starts with `name` (after its colon), if any.
  public static func field(_ name: String) -> String? {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
          let colon = line.firstIndex(of: ":") else { return nil }
    return String(line[line.index(after: colon)...])
  }
}
