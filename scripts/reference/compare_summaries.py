#!/usr/bin/env python3
"""Set two scalar-report summaries side by side at one stage: this project's trainer against the reference's
trainer (scripts/reference/compare-trainers.sh), per layer and per SAE. Prints Markdown.

    python3 scripts/reference/compare_summaries.py results/scalar/summary.json \
        results/scalar/reference-trainer/summary.json --stage step-000750 [--placement TRANSFORMER_BLOCK]
"""

import argparse
import json
import sys


def stage_of(path, stage, placement):
    with open(path) as f:
        report = json.load(f)["report"]
    for st in report["stages"]:
        if st["stage"] != stage:
            continue
        for p in st["placements"]:
            if p["placement"] == placement:
                return p
    sys.exit(f"compare_summaries: {path} has no {placement} results at stage {stage}")


def pct(e):
    return f"{100 * e['value']:.1f}% ± {100 * e['error']:.1f}%"


def auc(e):
    return f"({e['value'] / 1e3:.1f} ± {e['error'] / 1e3:.1f})e3"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ours")
    ap.add_argument("reference")
    ap.add_argument("--stage", required=True, help="stage name as in summary.json: step-NNNNNN or final")
    ap.add_argument("--placement", default="TRANSFORMER_BLOCK")
    a = ap.parse_args()
    ours, ref = stage_of(a.ours, a.stage, a.placement), stage_of(a.reference, a.stage, a.placement)
    method = [m for m in ours["methods"]][0]
    base = ours["baseline"]
    print(f"### {a.placement} at {a.stage}: this project's trainer vs the reference's trainer\n")
    print(f"| layer | {base} AUC (ours) | {base} AUC (reference) | {method} AUC (ours) | {method} AUC (reference) "
          f"| {method} vs {base} (ours) | {method} vs {base} (reference) |")
    print("|---|---|---|---|---|---|---|")
    for lo, lr in zip(ours["layers"], ref["layers"]):
        print(f"| {lo['layer']} | {auc(lo['auc'][base])} | {auc(lr['auc'][base])} | {auc(lo['auc'][method])} "
              f"| {auc(lr['auc'][method])} | {pct(lo['improvement'][method])} | {pct(lr['improvement'][method])} |")
    print(f"| mean | | | | | {pct(ours['meanImprovement'][method])} | {pct(ref['meanImprovement'][method])} |")
    print()
    print("| series | SAE | L0 (ours / ref) | CE increase (ours / ref) | dead fraction (ours / ref) |")
    print("|---|---|---|---|---|")
    for ro, rr in zip(ours["runs"], ref["runs"]):
        for so, sr in zip(ro["saes"], rr["saes"]):
            ce = lambda s: "–" if s.get("ceIncrease") is None else f"{s['ceIncrease']:.4f}"
            print(f"| {ro['label']} | {so['key']} | {so['l0']:.2f} / {sr['l0']:.2f} | {ce(so)} / {ce(sr)} "
                  f"| {so['deadFraction']:.3f} / {sr['deadFraction']:.3f} |")
    print()
    print("| series | layer | diagonal share (ours / ref) | edges for 90% of Σa² (ours / ref) |")
    print("|---|---|---|---|")
    for ro, rr in zip(ours["runs"], ref["runs"]):
        for layer in sorted(ro["attributions"], key=int):
            ao, ar = ro["attributions"][layer], rr["attributions"].get(layer)
            if ar is None:
                continue
            e90 = lambda s: dict(zip(s["edgesForShare"][0::2], s["edgesForShare"][1::2]))[0.9]
            print(f"| {ro['label']} | {layer} | {100 * ao['diagonalShare']:.2f}% / {100 * ar['diagonalShare']:.2f}% "
                  f"| {e90(ao)} / {e90(ar)} |")


if __name__ == "__main__":
    main()
