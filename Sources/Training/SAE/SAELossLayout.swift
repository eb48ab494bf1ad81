import Foundation
import SAE

/// How the SAEs of a model form the entries of the training loss vector and the units checkpointed together.
///
/// Independent variants have one entry per SAE. Paired variants (`jsae`, `jsae_block`, `staircase_block`)
/// have one entry per (input, output) pair, ordered by layer. Variants whose SAEs share weights (staircase,
/// multilayer) are saved per sharing group, when the sum of the group's entries is at its best.
public struct SAELossLayout: Equatable, Sendable {
  /// Per loss entry, the indices (into the key list) of the SAEs whose totals it sums.
  public var entries: [[Int]]
  /// The key naming each entry: the SAE's key, or the pair's input-side key.
  public var entryKeys: [SAEKey]
  /// Groups of entry indices saved together.
  public var saveUnits: [[Int]]

  /// The layout of `config`; throws a one-line error when a paired variant's keys do not form pairs.
  public init(config: SAEConfig) throws {
    let keys = config.saeKeys
    if config.saeVariant.isPaired {
      guard let placement = config.placement, placement != .transformerBlock else {
        throw TrainingError("variant \(config.saeVariant.rawValue) trains (input, output) pairs but the keys \(keys.map(\.description)) are not FF-layer or FF-block pairs")
      }
      var entries: [[Int]] = [], names: [SAEKey] = []
      var used = Set<Int>()
      for (i, key) in keys.enumerated() where key.hookPoint == placement.pairPoints.upstream {
        let partner = placement.pair(layer: key.layer).downstream
        guard let j = config.index(of: partner) else {
          throw TrainingError("SAE key \(key) has no partner \(partner) (variant \(config.saeVariant.rawValue) trains pairs)")
        }
        entries.append([i, j])
        names.append(key)
        used.formUnion([i, j])
      }
      if let lone = keys.indices.first(where: { !used.contains($0) }) {
        throw TrainingError("SAE key \(keys[lone]) has no partner (variant \(config.saeVariant.rawValue) trains pairs)")
      }
      let order = entries.indices.sorted { names[$0].layer < names[$1].layer }
      self.entries = order.map { entries[$0] }
      entryKeys = order.map { names[$0] }
    } else {
      entries = keys.indices.map { [$0] }
      entryKeys = keys
    }
    if config.saeVariant.sharesWeights {
      let entryOf = Dictionary(uniqueKeysWithValues: entries.enumerated().flatMap { e, members in members.map { ($0, e) } })
      saveUnits = SAEBuilder.staircaseGroups(config).map { group in
        Array(Set(group.members.compactMap { entryOf[$0] })).sorted()
      }.filter { !$0.isEmpty }
    } else {
      saveUnits = entries.indices.map { [$0] }
    }
  }

  /// Number of entries in the loss vector.
  public var count: Int { entries.count }

  init(entries: [[Int]], entryKeys: [SAEKey], saveUnits: [[Int]]) {
    self.entries = entries
    self.entryKeys = entryKeys
    self.saveUnits = saveUnits
  }

  /// One entry summing every SAE, saved as one unit (a single scalar loss, as the regularization trainer's);
  /// the entry is named by the first key.
  public static func whole(config: SAEConfig) -> SAELossLayout {
    SAELossLayout(entries: [Array(config.saeKeys.indices)], entryKeys: [config.saeKeys[0]], saveUnits: [[0]])
  }
}
