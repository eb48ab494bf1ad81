import Foundation

/// Facts about the machine a figure was measured on.
public enum MachineInfo {
  /// `lscpu`'s model name (the `model name` line of /proc/cpuinfo), or "unknown".
  public static let cpuModel: String = {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
          let colon = line.firstIndex(of: ":") else { return "unknown" }
    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
  }()

  /// Online cores.
  public static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }
}
