"""The fixed set of real held-out images the golden tests use (read from
../shared/data at test time; never copied into the repository)."""
import csv
from collections import defaultdict


def golden_images(data):
    """(pack id, relative path) pairs: 3 aria_all val fields per class, 2 pbc_wbc test crops per class."""
    out = []
    for pack, folder, split, per in (("all-screen", "aria_all", "val", 3), ("wbc-type", "pbc_wbc", "test", 2)):
        by = defaultdict(list)
        for r in csv.DictReader(open(data / folder / "labels.csv")):
            if r["split"] == split:
                by[r["label"]].append(f"{folder}/{r['path']}")
        for label in sorted(by):
            out += [(pack, p) for p in sorted(by[label])[:per]]
    return out
