"""scripts/evaluate_models.py's confidence line for the cell pack: cells of a type
it has no class for (blasts) count against it only when typed as a mature white
cell at or above the line, and the line is the smallest that keeps their share
at or under the target."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import evaluate_models as em  # noqa: E402

LABELS = ["basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil", "platelet"]


def probs(top: list[tuple[str, float]]) -> np.ndarray:
    """One row per (label, top probability), the rest spread evenly."""
    out = np.zeros((len(top), len(LABELS)))
    for i, (lab, p) in enumerate(top):
        out[i] = (1.0 - p) / (len(LABELS) - 1)
        out[i, LABELS.index(lab)] = p
    return out


def test_only_confident_mature_types_count():
    P = probs([("lymphocyte", 0.97), ("ig", 0.999), ("platelet", 0.999), ("erythroblast", 0.99),
               ("monocyte", 0.90)])
    # ig, erythroblast and platelet are not mature white cells: a blast typed as one is not passed as mature.
    assert em.confident_mature(P, LABELS, 0.95) == 1 / 5
    assert em.confident_mature(P, LABELS, 0.90) == 2 / 5
    assert em.confident_mature(P, LABELS, 0.98) == 0.0
    assert em.confident_mature(P[:0], LABELS, 0.5) == 0.0


def test_line_is_the_smallest_that_keeps_blasts_under_the_target():
    confs = [0.62, 0.81, 0.93, 0.955, 0.97, 0.985, 0.991, 0.9962, 0.9975, 0.999]
    P = probs([("neutrophil", c) for c in confs])
    t = em.choose_min_conf_blasts(P, LABELS, 0.2)   # at most 2 of 10 may pass
    assert em.confident_mature(P, LABELS, t) <= 0.2
    assert em.confident_mature(P, LABELS, round(t - 0.001, 3)) > 0.2
    assert t == 0.997
    # Blasts the pack never types as mature set no line beyond the floor of the grid.
    assert em.choose_min_conf_blasts(probs([("ig", c) for c in confs]), LABELS, 0.0) == 0.3
    # If even the top of the grid lets too many through, the line is the top of the grid.
    assert em.choose_min_conf_blasts(probs([("neutrophil", 0.9999)] * 3), LABELS, 0.0) == 0.999
