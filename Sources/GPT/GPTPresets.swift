/// The reference's model presets.
extension GPTConfig {
  /// Names of every preset, in a fixed order.
  public static let presetNames = ["ascii_64x4", "ascii_64x4_dyt", "ascii_128x6", "tiktoken_32x4", "tiktoken_256x4"]

  /// The preset with this name, or nil.
  public static func preset(_ name: String) -> GPTConfig? {
    switch name {
    case "ascii_64x4": return GPTConfig(blockSize: 128, vocabSize: 128, nLayer: 4, nHead: 4, nEmbd: 64)
    case "ascii_64x4_dyt":
      return GPTConfig(blockSize: 128, vocabSize: 128, nLayer: 4, nHead: 4, nEmbd: 64, normStrategy: .dynamicTanh, alphaMLP: 10)
    case "ascii_128x6": return GPTConfig(blockSize: 128, vocabSize: 128, nLayer: 6, nHead: 4, nEmbd: 128)
    case "tiktoken_32x4": return GPTConfig(blockSize: 128, vocabSize: 50257, nLayer: 4, nHead: 16, nEmbd: 32)
    case "tiktoken_256x4": return GPTConfig(blockSize: 128, vocabSize: 50257, nLayer: 4, nHead: 16, nEmbd: 256)
    default: return nil
    }
  }
}
