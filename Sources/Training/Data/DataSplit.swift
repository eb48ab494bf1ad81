/// A dataset split; its shards are the files `<split>_*.npy` of a data directory.
public enum DataSplit: String, Codable, CaseIterable, Sendable {
  case train
  case val
}
