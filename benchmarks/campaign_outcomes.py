"""Fault-for-fault comparison of a faultline campaign with a by-hand PyTorch campaign on the same fault list.

Shared by benchmarks/campaign_compare.sh (CPU peer) and benchmarks/gpu_compare.py (GPU). Standard library only.

The by-hand campaign counts, per fault, the images whose argmax differs from the golden argmax; torch.argmax
picks a NaN, so an image with NaN/Inf logits counts there too. faultline counts changed top-1 images as
`critical` and images with NaN/Inf outputs as `due` (never critical). So a fault agrees when
  critical == peer count                          if the fault made no NaN/Inf (due == 0),
  critical <= peer count <= critical + due        otherwise,
and the campaigns agree when every fault agrees and the NaN/Inf image totals are equal.
"""

import csv
import os


def faultline_summary(results_dir):
    """The rows of `results_dir`/summary.csv (dicts of strings), the GOLDEN row left out."""
    with open(os.path.join(results_dir, "summary.csv"), newline="") as f:
        return [row for row in csv.DictReader(f) if row["Injection"] != "GOLDEN"]


def compare(rows, peer_sdc, peer_nonfinite):
    """(same, differing): differing lists (index, critical, due, peer count) of every fault that disagrees."""
    critical = [int(r["critical"]) for r in rows]
    due = [int(r["due"]) for r in rows]
    differing = []
    if len(rows) != len(peer_sdc):
        return False, [("fault count", len(rows), None, len(peer_sdc))]
    for i, (c, d, s) in enumerate(zip(critical, due, peer_sdc)):
        if not (c == s if d == 0 else c <= s <= c + d):
            differing.append((i, c, d, s))
    return not differing and sum(due) == peer_nonfinite, differing


def describe(rows, peer_nonfinite, differing, limit=10):
    """One line naming the first disagreeing faults and the NaN/Inf image totals."""
    due = sum(int(r["due"]) for r in rows)
    return (f"differing faults (index, faultline critical, due, peer sdc): {differing[:limit]}"
            f"{' ...' if len(differing) > limit else ''}; NaN/Inf images: faultline {due}, peer {peer_nonfinite}")
