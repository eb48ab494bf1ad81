/// The configuration the tests were built in: the debug run of the README's test command, or the optimised one.
public enum BuildConfiguration {
  #if DEBUG
  /// Whether this is an optimised build.
  public static let optimised = false
  #else
  /// Whether this is an optimised build.
  public static let optimised = true
  #endif

  /// SwiftPM's name of the configuration: "debug" or "release".
  public static var name: String { optimised ? "release" : "debug" }
}
