"""The probability rule of docs/model-pack.md, written independently of the Rust
code, and the Python LiteRT interpreter on a given tensor."""
import json
import math
import struct
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def probabilities(raw: bytes, manifest: dict):
    out = manifest["output"]
    t = manifest["calibration"]["temperature"]
    q = out.get("quantization") or {"scale": 1.0, "zero_point": 0}
    scale = np.float32(q["scale"])
    if out["dtype"] == "int8":
        vals = struct.unpack(f"{len(raw)}b", raw)
    elif out["dtype"] == "uint8":
        vals = struct.unpack(f"{len(raw)}B", raw)
    else:
        vals = struct.unpack(f"<{len(raw) // 4}f", raw)
        scale, q = np.float32(1.0), {"zero_point": 0}
    z = [float(np.float32(v - q["zero_point"]) * scale) for v in vals]
    if out["kind"] == "logits":
        tt = [v / t for v in z]
    else:
        tt = [(math.log(v) if v > 0 else -math.inf) / t for v in z]
    m = max(tt)
    e = [math.exp(v - m) for v in tt]
    s = 0.0
    for v in e:
        s += v
    return [v / s for v in e]


class Reference:
    """ai_edge_litert's Interpreter on exactly the tensor the Rust side prepared."""

    def __init__(self, model_path: Path, threads=2):
        self.it = Interpreter(model_path=str(model_path), num_threads=threads)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]
        outs = self.it.get_output_details()
        self.out = outs[0]
        # A pack with a familiarity score has a second output: its embedding;
        # one with style statistics a third.
        self.emb = outs[1] if len(outs) > 1 else None
        self.sty = outs[2] if len(outs) > 2 else None

    def run(self, tensor: bytes) -> bytes:
        x = np.frombuffer(tensor, dtype=self.inp["dtype"]).reshape(self.inp["shape"])
        self.it.set_tensor(self.inp["index"], x)
        self.it.invoke()
        return self.it.get_tensor(self.out["index"]).tobytes()

    def embedding(self) -> bytes:
        """The last run's embedding output (b"" for a pack without one)."""
        return b"" if self.emb is None else self.it.get_tensor(self.emb["index"]).tobytes()

    def style(self) -> bytes:
        """The last run's style statistics (b"" for a pack without them)."""
        return b"" if self.sty is None else self.it.get_tensor(self.sty["index"]).tobytes()


def familiarity_distance(raw: bytes, g: dict) -> float:
    """docs/model-pack.md's familiarity score of one int8 output over the line,
    written independently of the Rust code (float64, the same order of sums)."""
    q = g["quantization"]
    e = [float(np.float32(v - q["zero_point"]) * np.float32(q["scale"])) for v in struct.unpack(f"{len(raw)}b", raw)]
    z = [a - m for a, m in zip(e, g["mean"])]
    total = 0.0
    for v in z:
        total += v * v
    score = 0.0
    for axis, var in zip(g["components"], g["variances"]):
        p = 0.0
        for a, v in zip(axis, z):
            p += a * v
        score += p * p / var
        total -= p * p
    score += max(total, 0.0) / g["residual_variance"]
    return score / len(e) / g["threshold"]


def load_manifest(pack_dir: Path):
    return json.loads((pack_dir / "manifest.json").read_text())
