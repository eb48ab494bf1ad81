import ArgumentParser
import CommandSupport
import Foundation
import GPT
import Tensor

struct Generate: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "generate",
    abstract: "Sample text from a GPT checkpoint.",
    discussion: "Prompts are encoded with the tokenizer matching the model's vocabulary (ascii for V = 128).")

  @Option(help: ArgumentHelp("Checkpoint directory (model.json + model.safetensors).", valueName: "dir"))
  var checkpoint: String

  @Option(help: "Text to continue.")
  var prompt: String = "\n"

  @Option(help: "Number of tokens to sample.")
  var tokens: Int = 500

  @Option(help: "Softmax temperature (0 = always the most likely token).")
  var temperature: Float = 0.8

  @Option(help: "Sample only among the k most likely tokens (0 = all).")
  var topK: Int = 0

  @Option(help: "Random seed of the sampler.")
  var seed: UInt64 = 0

  @Option(help: ArgumentHelp("GPT-2 vocab.json, for models with V = 50257.", valueName: "file"))
  var vocab: String?

  @Option(help: ArgumentHelp("GPT-2 merges.txt, for models with V = 50257.", valueName: "file"))
  var merges: String?

  func run() throws {
    guard tokens >= 0 else { throw ToolError("--tokens must be ≥ 0") }
    guard temperature >= 0 else { throw ToolError("--temperature must be ≥ 0") }
    guard topK >= 0 else { throw ToolError("--top-k must be ≥ 0") }
    let model = try GPTCheckpoint.load(from: URL(fileURLWithPath: checkpoint))
    let tokenizer: any Tokenizer
    switch model.config.vocabSize {
    case 128: tokenizer = ASCIITokenizer()
    case 50257:
      guard let vocab, let merges else { throw ToolError("this model uses GPT-2 tokens: pass --vocab and --merges") }
      tokenizer = try BPETokenizer(vocabulary: URL(fileURLWithPath: vocab), merges: URL(fileURLWithPath: merges))
    default: throw ToolError("no tokenizer for a vocabulary of \(model.config.vocabSize) tokens")
    }
    let ids = tokenizer.encode(prompt)
    guard !ids.isEmpty else { throw ToolError("the prompt encodes to no tokens") }
    var g = RandomGenerator(seed: seed)
    let out = try model.generate(prompt: ids, count: tokens, temperature: temperature, topK: topK == 0 ? nil : topK, generator: &g)
    print(prompt + tokenizer.decode(out))
  }
}

Generate.main()
