"""Adaptive rounding: each int8 weight rounded up or down, whichever loses less on real images.

Why (docs/quantisation-<pack>.md): the int8 packs disagree with their float32
exports on about 3 % of images, and most of that comes from the weights, not the
activations: rounding only the weights to their int8 grid (float activations)
already gives the same agreement, and rounding only the first depthwise
convolution's 144 weights gives nearly all of it. Its channels are 3x3 kernels
with one dominant tap (up to 26 times the median), so round-to-nearest leaves the
small taps a step or two, and the linear bottleneck after it adds up those
errors.

What: for every convolution, depthwise convolution and fully connected layer of a
float32 export, each weight is put on the same per-output-channel int8 grid the
converter uses (scale = max |w| / 127, the widest weight kept where it is) and
rounded down or up, whichever gives the smaller error on the calibration images
(greedy sweeps, in the spirit of Nagel et al. 2020, "Up or down? Adaptive
rounding for post-training quantization"):
  * a convolution or fully connected layer: the error of its own output, a
    quadratic in the rounding errors (Gram matrix of its input patches);
  * a depthwise convolution: the error after its activation and the 1x1
    convolution that reads it (MobileNetV2's linear bottleneck), where its
    errors add up.
The float weights are written exactly on the chosen grid points, so the
converter's own round-to-nearest (`quantise`: calibration, then the MLIR
quantiser, as `TFLiteConverter` does) picks the chosen integers. The float32
export that is shipped stays the trained one; only the int8 model changes.

Parsing and quantising need TensorFlow (scripts/requirements-train.txt); the
numerical core needs only numpy (tests/python/test_round_weights.py).
"""
from __future__ import annotations

import numpy as np

CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED = 3, 4, 9  # BuiltinOperator
RELU, RELU6 = 1, 3  # ActivationFunctionType


def _code(model, op) -> int:
    c = model.operatorCodes[op.opcodeIndex]
    return max(int(c.builtinCode), int(c.deprecatedBuiltinCode))


def _array(model, t: int) -> np.ndarray:
    ten = model.subgraphs[0].tensors[t]
    return np.frombuffer(bytes(bytearray(model.buffers[ten.buffer].data)), np.float32).reshape(ten.shape).copy()


def _store(model, t: int, a: np.ndarray) -> None:
    """Writes `a` into a fresh buffer of its own (a buffer may be shared)."""
    from tensorflow.lite.python import schema_py_generated as fb
    b = fb.BufferT()
    b.data = np.frombuffer(np.ascontiguousarray(a, np.float32).tobytes(), dtype=np.uint8)
    model.buffers.append(b)
    model.subgraphs[0].tensors[t].buffer = len(model.buffers) - 1


def _activate(y: np.ndarray, fused: int) -> np.ndarray:
    return np.clip(y, 0, 6) if fused == RELU6 else np.maximum(y, 0) if fused == RELU else y


def _patches(x: np.ndarray, kh: int, kw: int, stride: int, same: bool, pos: np.ndarray) -> np.ndarray:
    """Input patches [len(pos), kh*kw, C] of a 2-D convolution at output positions
    `pos` ([n, 2]: row, column) of one image x [H, W, C]."""
    h, w, c = x.shape
    if same:
        oh, ow = -(-h // stride), -(-w // stride)
        top = max((oh - 1) * stride + kh - h, 0) // 2
        left = max((ow - 1) * stride + kw - w, 0) // 2
    else:
        top = left = 0
    xp = np.pad(x, ((kh, kh), (kw, kw), (0, 0)))
    rows = pos[:, 0] * stride - top + kh
    cols = pos[:, 1] * stride - left + kw
    out = np.empty((len(pos), kh * kw, c), np.float32)
    for i in range(kh):
        for j in range(kw):
            out[:, i * kw + j] = xp[rows + i, cols + j]
    return out


def _grid(w: np.ndarray):
    """Per-row (output channel) int8 grid of w [O, n]: scale, real coordinates, and
    which entries may move (not the row's widest weight, which fixes the scale)."""
    s = np.abs(w).max(1) / 127.0
    s = np.where(s > 0, s, 1.0)
    r = w / s[:, None]
    movable = np.abs(r) < 126.999
    return s, r, movable


def _round_quadratic(w: np.ndarray, x: np.ndarray, sweeps: int) -> tuple[np.ndarray, float, float]:
    """Rounding of w [O, n] minimising the mean of |x d^T|^2 over the rows of the
    layer's input x [N, n] (d the weight error): d G d with G = x^T x / N. Greedy
    coordinate sweeps over the inputs, all output channels at once."""
    gram = x.T @ x / len(x)
    s, r, movable = _grid(w)
    q = np.round(r)
    d = (q - r) * s[:, None]
    g = d @ gram
    before = float(np.einsum("on,on->", d, g))
    lo = np.floor(r)
    for _ in range(sweeps):
        changed = 0
        for k in range(w.shape[1]):
            alt = np.where(q[:, k] == lo[:, k], lo[:, k] + 1, lo[:, k])
            step = (alt - q[:, k]) * s
            gain = 2 * step * g[:, k] + step * step * gram[k, k]
            take = movable[:, k] & (np.abs(alt) <= 127) & (gain < -1e-12 * max(abs(before), 1e-30))
            if take.any():
                q[take, k] = alt[take]
                g[take] += step[take, None] * gram[k][None, :]
                changed += int(take.sum())
        if not changed:
            break
    d = (q - r) * s[:, None]
    return q * s[:, None], before, float(np.einsum("on,on->", d, d @ gram))


def _round_depthwise(w: np.ndarray, bias: np.ndarray, taps: np.ndarray, fused: int, reader: np.ndarray | None,
                     sweeps: int) -> tuple[np.ndarray, float, float]:
    """Rounding of a depthwise kernel w [C, k] minimising, on its input patches
    taps [n, k, C], the error after its activation and, when given, after the 1x1
    reader's weights [O, C]."""
    s, r, movable = _grid(w)
    q = np.round(r)
    c_n = w.shape[0]
    out = lambda wc, c: _activate(taps[:, :, c] @ wc + bias[c], fused)  # noqa: E731
    base = np.stack([out(w[c], c) for c in range(c_n)], 1)
    cur = np.stack([out(q[c] * s[c], c) for c in range(c_n)], 1)
    mix = reader.T if reader is not None else np.eye(c_n, dtype=np.float32)  # [C, O]
    err = (cur - base) @ mix
    before = obj = float((err ** 2).mean())
    lo = np.floor(r)
    for _ in range(sweeps):
        changed = 0
        for c in range(c_n):
            for k in range(w.shape[1]):
                if not movable[c, k]:
                    continue
                alt = lo[c, k] + 1 if q[c, k] == lo[c, k] else lo[c, k]
                if abs(alt) > 127:
                    continue
                trial = q[c].copy()
                trial[k] = alt
                new = out(trial * s[c], c)
                err2 = err + np.outer(new - cur[:, c], mix[c])
                o2 = float((err2 ** 2).mean())
                if o2 < obj:
                    obj, err, q[c], cur[:, c] = o2, err2, trial, new
                    changed += 1
        if not changed:
            break
    return q * s[:, None], before, obj


def _name(t) -> str:
    return t.name.decode() if isinstance(t.name, bytes) else str(t.name)


def adapt(float_bytes: bytes, images, rows: int = 20000, sweeps: int = 3, seed: int = 0) -> tuple[bytes, list[dict]]:
    """The float32 export with every weight of every CONV_2D, DEPTHWISE_CONV_2D and
    FULLY_CONNECTED layer on its int8 grid point chosen by adaptive rounding on
    `images` (float inputs as the model takes them; about `rows` sampled output
    positions per layer; each layer's input as the float model computes it). Returns
    the model and, per layer, the error before and after (mean squared)."""
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.tools import flatbuffer_utils as fu
    model = fu.read_model_from_bytearray(bytearray(float_bytes))
    g = model.subgraphs[0]
    readers: dict[int, list[int]] = {}
    for k, op in enumerate(g.operators):
        for t in op.inputs:
            readers.setdefault(int(t), []).append(k)
    layers = [k for k, op in enumerate(g.operators) if _code(model, op) in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED)
              and len(op.inputs) >= 2 and int(g.tensors[int(op.inputs[1])].type) == 0]
    it = Interpreter(model_content=float_bytes, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    rng = np.random.default_rng(seed)
    per_image = max(1, -(-rows // len(images)))
    samples: dict[int, list[np.ndarray]] = {k: [] for k in layers}
    for x in images:
        it.set_tensor(inp, np.asarray(x, np.float32)[None])
        it.invoke()
        for k in layers:
            op = g.operators[k]
            a = it.get_tensor(int(op.inputs[0]))
            if _code(model, op) == FULLY_CONNECTED:
                samples[k].append(a.reshape(-1, a.shape[-1]))
                continue
            wshape = g.tensors[int(op.inputs[1])].shape
            kh, kw = int(wshape[1]), int(wshape[2])
            oshape = g.tensors[int(op.outputs[0])].shape
            oh, ow = int(oshape[1]), int(oshape[2])
            n = min(per_image, oh * ow)
            flat = rng.choice(oh * ow, n, replace=False)
            pos = np.stack([flat // ow, flat % ow], 1)
            opt = op.builtinOptions
            same, stride = int(opt.padding) == 0, int(opt.strideH)
            samples[k].append(_patches(a[0], kh, kw, stride, same, pos))
    report = []
    for k in layers:
        op = g.operators[k]
        code, wt = _code(model, op), int(op.inputs[1])
        w = _array(model, wt)
        fused = int(getattr(op.builtinOptions, "fusedActivationFunction", 0))
        p = np.concatenate(samples[k])
        samples[k] = []
        if code == DEPTHWISE_CONV_2D:
            kk = w.shape[1] * w.shape[2]
            wc = w.reshape(kk, -1).T  # [C, k]
            bias = _array(model, int(op.inputs[2])) if len(op.inputs) > 2 and int(op.inputs[2]) >= 0 \
                else np.zeros(wc.shape[0], np.float32)
            nxt = readers.get(int(op.outputs[0]), [])
            reader = None
            if len(nxt) == 1 and _code(model, g.operators[nxt[0]]) == CONV_2D:
                rw = g.tensors[int(g.operators[nxt[0]].inputs[1])]
                if int(rw.shape[1]) == 1 and int(rw.shape[2]) == 1 and int(rw.type) == 0:
                    reader = _array(model, int(g.operators[nxt[0]].inputs[1]))[:, 0, 0, :]
            new, before, after = _round_depthwise(wc, bias, p, fused, reader, sweeps)
            _store(model, wt, new.T.reshape(w.shape))
        else:
            new, before, after = _round_quadratic(w.reshape(w.shape[0], -1).astype(np.float64),
                                                  p.reshape(len(p), -1).astype(np.float64), sweeps)
            _store(model, wt, new.reshape(w.shape).astype(np.float32))
        report.append({"layer": _name(g.tensors[wt]).split(";")[0],
                       "kind": {CONV_2D: "conv", DEPTHWISE_CONV_2D: "depthwise", FULLY_CONNECTED: "dense"}[code],
                       "error_nearest": before, "error_adapted": after})
    return bytes(fu.convert_object_to_bytearray(model)), report


def nearest(float_bytes: bytes) -> bytes:
    """The float32 export with every weight on its int8 grid point by plain
    round-to-nearest (what the converter does): to measure what the weights alone
    cost, with the activations left in float."""
    from tensorflow.lite.tools import flatbuffer_utils as fu
    model = fu.read_model_from_bytearray(bytearray(float_bytes))
    g = model.subgraphs[0]
    for op in g.operators:
        code = _code(model, op)
        if code not in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) or len(op.inputs) < 2 \
                or int(g.tensors[int(op.inputs[1])].type) != 0:
            continue
        w = _array(model, int(op.inputs[1]))
        rows = w.reshape(-1, w.shape[-1]).T if code == DEPTHWISE_CONV_2D else w.reshape(w.shape[0], -1)
        s_, r, _ = _grid(rows.astype(np.float64))
        q = (np.round(r) * s_[:, None]).astype(np.float32)
        _store(model, int(op.inputs[1]), q.T.reshape(w.shape) if code == DEPTHWISE_CONV_2D else q.reshape(w.shape))
    return bytes(fu.convert_object_to_bytearray(model))


def quantise(float_bytes: bytes, images) -> bytes:
    """Full-integer int8 (int8 input and outputs) by TensorFlow's converter's own path:
    calibration on `images`, then the MLIR quantiser with per-channel weights."""
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python.optimize import calibrator

    def gen():
        for x in images:
            yield [np.asarray(x, np.float32)[None]]

    calibrated = calibrator.Calibrator(calibrator.add_intermediate_tensors(float_bytes)).calibrate(gen)
    out = convert.mlir_quantize(calibrated, False, input_data_type=tf.int8, output_data_type=tf.int8)
    from ai_edge_litert.interpreter import Interpreter
    left = sorted({d["dtype"].__name__ for d in Interpreter(model_content=out).get_tensor_details()} - {"int8", "int32"})
    if left:  # the converter's TFLITE_BUILTINS_INT8 check, which this path does not make itself
        raise ValueError(f"not full-integer: tensors of {left} left in the quantised model")
    return out
