import Foundation

/// A line chart with a logarithmic x axis, error bars, shaded areas under the curves and a legend,
/// rendered as standalone SVG text.
public struct SVGPlot {
  /// One line of the chart.
  public struct Series {
    public var label: String
    public var x: [Double]
    public var y: [Double]
    public var lower: [Double]
    public var upper: [Double]
    public init(label: String, x: [Double], y: [Double], lower: [Double], upper: [Double]) {
      self.label = label
      self.x = x
      self.y = y
      self.lower = lower
      self.upper = upper
    }
  }

  public var title: String
  public var xLabel: String
  public var yLabel: String
  public var series: [Series]
  public var width = 900.0
  public var height = 600.0
  /// Whether the area under each curve is shaded.
  public var shadesArea = true
  /// Whether the x axis is logarithmic (else linear).
  public var logX = true

  /// Colour-blind-safe palette (Wong 2011).
  static let palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
  static let dashes = ["", "8,4", "2,3", "8,3,2,3"]

  public init(title: String, xLabel: String, yLabel: String, series: [Series]) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.series = series
  }

  /// Round-number ticks covering [lo, hi].
  static func niceTicks(_ lo: Double, _ hi: Double, count: Int = 6) -> [Double] {
    let span = Swift.max(hi - lo, 1e-12)
    let raw = span / Double(count)
    let mag = pow(10, floor(log10(raw)))
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].map { $0 * mag }.first { span / $0 <= Double(count) } ?? 10 * mag
    var ticks: [Double] = []
    var t = ceil(lo / step) * step
    while t <= hi + step * 1e-9 { ticks.append(t); t += step }
    return ticks
  }

  static func format(_ v: Double) -> String {
    if v == 0 { return "0" }
    if Swift.abs(v) >= 1000 {
      let k = v / 1000
      return k == k.rounded() ? "\(Int(k))k" : String(format: "%.1fk", k)
    }
    return String(format: "%g", (v * 1e6).rounded() / 1e6)
  }

  static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
  }

  /// Top-left corner of a legend box of `width` × `height` inside the plot area: the first of lower left,
  /// upper right, upper left and lower right (each `margin` from the frame) whose box meets the fewest
  /// `points` (x, top, bottom: a marker with its error bar, in pixels).
  static func legendCorner(width: Double, height: Double, plot: (left: Double, top: Double, width: Double, height: Double),
                           margin: Double, points: [(Double, Double, Double)]) -> (Double, Double) {
    let x0 = plot.left + margin, x1 = plot.left + plot.width - margin - width
    let y0 = plot.top + margin, y1 = plot.top + plot.height - margin - height
    let corners = [(x0, y1), (x1, y0), (x0, y0), (x1, y1)]
    var best = corners[0], fewest = Int.max
    for (cx, cy) in corners {
      var hits = 0
      for (x, top, bottom) in points where x >= cx - 6 && x <= cx + width + 6 && bottom >= cy - 6 && top <= cy + height + 6 {
        hits += 1
      }
      if hits < fewest { fewest = hits; best = (cx, cy) }
    }
    return best
  }

  /// The SVG document.
  public func render() -> String {
    let left = 90.0, right = 30.0, top = 60.0, bottom = 80.0
    let pw = width - left - right, ph = height - top - bottom
    let xs = series.flatMap(\.x).filter { $0 > 0 }
    let xMin = xs.min() ?? 1, xMax = Swift.max(xs.max() ?? 10, xMin * 10)
    let yMax0 = series.flatMap { $0.upper + $0.y }.filter(\.isFinite).max() ?? 1
    // The y axis starts at 0 unless some value is negative.
    let yMin0 = Swift.min(0, series.flatMap { $0.lower + $0.y }.filter(\.isFinite).min() ?? 0)
    let yTicks = SVGPlot.niceTicks(yMin0 == 0 ? 0 : yMin0 - 0.05 * Swift.abs(yMin0), yMax0 * 1.05)
    let yMax = Swift.max(yTicks.last ?? yMax0, yMax0 * 1.05, 1e-12)
    let yMin = yMin0 == 0 ? 0 : Swift.min(yTicks.first ?? yMin0, yMin0)
    let lx0 = log10(xMin), lx1 = log10(xMax)
    func px(_ x: Double) -> Double {
      guard logX else { return left + (x - xMin) / Swift.max(xMax - xMin, 1e-12) * pw }
      return left + (log10(Swift.max(x, xMin)) - lx0) / Swift.max(lx1 - lx0, 1e-12) * pw
    }
    func py(_ y: Double) -> Double { top + ph - (Swift.max(yMin, y) - yMin) / (yMax - yMin) * ph }
    func f(_ v: Double) -> String { String(format: "%.2f", v) }
    var s = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif">
      <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="white"/>
      <text x="\(f(left + pw / 2))" y="32" font-size="22" text-anchor="middle">\(SVGPlot.escape(title))</text>

      """
    // grid and ticks
    for t in yTicks {
      s += "<line x1=\"\(f(left))\" y1=\"\(f(py(t)))\" x2=\"\(f(left + pw))\" y2=\"\(f(py(t)))\" stroke=\"#dddddd\"/>\n"
      s += "<text x=\"\(f(left - 8))\" y=\"\(f(py(t) + 5))\" font-size=\"15\" text-anchor=\"end\">\(SVGPlot.format(t))</text>\n"
    }
    if yMin < 0 {
      s += "<line x1=\"\(f(left))\" y1=\"\(f(py(0)))\" x2=\"\(f(left + pw))\" y2=\"\(f(py(0)))\" stroke=\"#555555\"/>\n"
    }
    if !logX {
      for t in SVGPlot.niceTicks(xMin, xMax) {
        s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(top))\" x2=\"\(f(px(t)))\" y2=\"\(f(top + ph))\" stroke=\"#dddddd\"/>\n"
        s += "<text x=\"\(f(px(t)))\" y=\"\(f(top + ph + 22))\" font-size=\"15\" text-anchor=\"middle\">\(SVGPlot.format(t))</text>\n"
      }
    }
    var decade = floor(lx0)
    while logX && decade <= ceil(lx1) {
      let v = pow(10, decade)
      if v >= xMin * 0.999 && v <= xMax * 1.001 {
        s += "<line x1=\"\(f(px(v)))\" y1=\"\(f(top))\" x2=\"\(f(px(v)))\" y2=\"\(f(top + ph))\" stroke=\"#dddddd\"/>\n"
        s += "<text x=\"\(f(px(v)))\" y=\"\(f(top + ph + 22))\" font-size=\"15\" text-anchor=\"middle\">\(SVGPlot.format(v))</text>\n"
      }
      for m in 2...9 {
        let mv = Double(m) * v
        if mv > xMin && mv < xMax {
          s += "<line x1=\"\(f(px(mv)))\" y1=\"\(f(top + ph))\" x2=\"\(f(px(mv)))\" y2=\"\(f(top + ph + 5))\" stroke=\"#888888\"/>\n"
        }
      }
      decade += 1
    }
    s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(pw))\" height=\"\(f(ph))\" fill=\"none\" stroke=\"#333333\"/>\n"
    s += "<text x=\"\(f(left + pw / 2))\" y=\"\(f(height - 22))\" font-size=\"18\" text-anchor=\"middle\">\(SVGPlot.escape(xLabel))</text>\n"
    s += "<text x=\"24\" y=\"\(f(top + ph / 2))\" font-size=\"18\" text-anchor=\"middle\" transform=\"rotate(-90 24 \(f(top + ph / 2)))\">\(SVGPlot.escape(yLabel))</text>\n"
    // series
    for (i, ser) in series.enumerated() {
      let color = SVGPlot.palette[i % SVGPlot.palette.count]
      let pts = zip(ser.x, ser.y).map { "\(f(px($0))),\(f(py($1)))" }
      guard !pts.isEmpty else { continue }
      if shadesArea {
        let area = "\(f(px(ser.x.first!))),\(f(py(0))) " + pts.joined(separator: " ") + " \(f(px(ser.x.last!))),\(f(py(0)))"
        s += "<polygon points=\"\(area)\" fill=\"\(color)\" fill-opacity=\"0.15\" stroke=\"none\"/>\n"
      }
      let dash = SVGPlot.dashes[i % SVGPlot.dashes.count]
      s += "<polyline points=\"\(pts.joined(separator: " "))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>\n"
      for j in ser.x.indices {
        let cx = px(ser.x[j]), y0 = py(ser.lower[j]), y1 = py(ser.upper[j])
        s += "<line x1=\"\(f(cx))\" y1=\"\(f(y0))\" x2=\"\(f(cx))\" y2=\"\(f(y1))\" stroke=\"\(color)\" stroke-width=\"1.2\"/>"
        s += "<line x1=\"\(f(cx - 3))\" y1=\"\(f(y0))\" x2=\"\(f(cx + 3))\" y2=\"\(f(y0))\" stroke=\"\(color)\"/>"
        s += "<line x1=\"\(f(cx - 3))\" y1=\"\(f(y1))\" x2=\"\(f(cx + 3))\" y2=\"\(f(y1))\" stroke=\"\(color)\"/>"
        if i % 2 == 0 {
          s += "<circle cx=\"\(f(cx))\" cy=\"\(f(py(ser.y[j])))\" r=\"3.5\" fill=\"\(color)\"/>\n"
        } else {
          s += "<rect x=\"\(f(cx - 3.5))\" y=\"\(f(py(ser.y[j]) - 3.5))\" width=\"7\" height=\"7\" fill=\"\(color)\"/>\n"
        }
      }
    }
    // legend: the corner whose box covers the fewest markers and error bars (lower left, as in the paper's
    // plots, unless the data are there)
    let lh = 24.0
    let boxH = Double(series.count) * lh + 12
    let longest = series.map(\.label.count).max() ?? 10
    let boxW = Double(longest) * 7.6 + 50
    let (bx, by) = SVGPlot.legendCorner(width: boxW, height: boxH, plot: (left, top, pw, ph), margin: 12,
                                        points: series.flatMap { ser in
                                          ser.x.indices.map { (px(ser.x[$0]), py(ser.upper[$0]), py(ser.lower[$0])) }
                                        })
    s += "<rect x=\"\(f(bx))\" y=\"\(f(by))\" width=\"\(f(boxW))\" height=\"\(f(boxH))\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999999\"/>\n"
    for (i, ser) in series.enumerated() {
      let color = SVGPlot.palette[i % SVGPlot.palette.count]
      let yy = by + 6 + lh * (Double(i) + 0.5)
      let dash = SVGPlot.dashes[i % SVGPlot.dashes.count]
      s += "<line x1=\"\(f(bx + 8))\" y1=\"\(f(yy))\" x2=\"\(f(bx + 34))\" y2=\"\(f(yy))\" stroke=\"\(color)\" stroke-width=\"2.5\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>"
      if i % 2 == 0 {
        s += "<circle cx=\"\(f(bx + 21))\" cy=\"\(f(yy))\" r=\"3.5\" fill=\"\(color)\"/>"
      } else {
        s += "<rect x=\"\(f(bx + 17.5))\" y=\"\(f(yy - 3.5))\" width=\"7\" height=\"7\" fill=\"\(color)\"/>"
      }
      s += "<text x=\"\(f(bx + 40))\" y=\"\(f(yy + 5))\" font-size=\"14\">\(SVGPlot.escape(ser.label))</text>\n"
    }
    s += "</svg>\n"
    return s
  }
}
