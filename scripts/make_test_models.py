#!/usr/bin/env python3
"""Generates the small test models in tests/fixtures/models/ (committed).

They are not trained: weights are random with a fixed seed. They exist so the
engine, pack loader and CLI can be tested before and besides the real packs:
- tiny_int8.tflite       1x32x32x3 int8 -> 1x3 int8 logits (conv, pool, dense)
- tiny_float32.tflite    the same network in float32
- tiny_batch4_int8.tflite the same network with a fixed batch of 4
- mobilenetv2_224_int8.tflite   MobileNetV2 width 1.0 at 224x224, int8 (bench)
plus a pack directory `tiny-pack/` (manifest.json + model.tflite) for loader tests,
and `tiny-style-pack/` (`--style-pack`, made on its own: the others are left as
they are): logits, an embedding and style statistics (each channel's mean and
mean absolute deviation after the first convolution) as three outputs, with
familiarity Gaussians fitted on random images as scripts/fit_familiarity.py fits
a real pack's (docs/model-pack.md, "familiarity").

Run with the training venv: .venv-train/bin/python scripts/make_test_models.py
"""
import argparse
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "models"


def tiny(batch):
    tf.keras.utils.set_random_seed(7)
    inp = tf.keras.Input((32, 32, 3), batch_size=batch)
    x = tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    out = tf.keras.layers.Dense(3)(x)
    return tf.keras.Model(inp, out)


def mobilenet(batch):
    tf.keras.utils.set_random_seed(7)
    return tf.keras.applications.MobileNetV2(
        input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=5, classifier_activation=None
    )


def convert(model, shape, int8, seed=0):
    # A fixed batch in the graph: LiteRT's host buffers need static shapes.
    inp = tf.keras.Input(shape[1:], batch_size=shape[0])
    conv = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(inp, model(inp)))
    if int8:
        rng = np.random.default_rng(seed)

        def rep():
            for _ in range(16):
                yield [rng.uniform(-1, 1, size=shape).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def write(name, data):
    (OUT / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes")


def tiny_pack(data):
    from ai_edge_litert.interpreter import Interpreter

    d = OUT / "tiny-pack"
    d.mkdir(exist_ok=True)
    (d / "model.tflite").write_bytes(data)
    it = Interpreter(model_content=data)
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    manifest = {
        "schema": 1,
        "id": "tiny-test",
        "version": "0.0.1",
        "task": "test",
        "description": "Untrained 32x32 test network with random weights (scripts/make_test_models.py).",
        "labels": ["alpha", "beta", "gamma"],
        "model_file": "model.tflite",
        "sha256": hashlib.sha256(data).hexdigest(),
        "input": {
            "width": 32, "height": 32, "channels": 3, "batch": 1, "color_order": "rgb",
            "dtype": "int8", "resize": "triangle",
            "normalization": {"mean": [127.5] * 3, "std": [127.5] * 3},
            "quantization": {"scale": float(i["quantization"][0]), "zero_point": int(i["quantization"][1])},
            "masks": [{"x": 0.75, "y": 0.75, "w": 0.25, "h": 0.25, "fill": [0, 0, 0]}],
            "rbc_diameter_px": 4.0, "cell_diameter_px": None,
        },
        "output": {
            "dtype": "int8", "kind": "logits",
            "quantization": {"scale": float(o["quantization"][0]), "zero_point": int(o["quantization"][1])},
        },
        "calibration": {"temperature": 1.5},
        "thresholds": {"min_confidence": 0.5},
        "provenance": {"data": [], "script": "scripts/make_test_models.py", "commit": "", "trained_at": "",
                       "packages": {"tensorflow-cpu": tf.__version__}},
        "metrics": {},
    }
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def tiny_style_pack():
    """The tiny network with a style output, int8, as a pack with both Gaussians."""
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    import fit_familiarity as ff
    from ai_edge_litert.interpreter import Interpreter

    tf.keras.utils.set_random_seed(11)
    inp = tf.keras.Input((32, 32, 3), batch_size=1)
    f1 = tf.keras.layers.Conv2D(6, 3, strides=2, activation="relu")(inp)
    x = tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu")(f1)
    emb = tf.keras.layers.GlobalAveragePooling2D()(x)
    logits = tf.keras.layers.Dense(3)(emb)
    net = tf.keras.Model(inp, [logits, emb, f1])

    @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3], tf.float32, name="input")])
    def serve(x):
        z, e, f = net(x, training=False)
        mu = tf.reduce_mean(f, axis=[1, 2], keepdims=True)
        mad = tf.reduce_mean(tf.abs(f - mu), axis=[1, 2])
        return {"a_logits": z, "b_embedding": e, "c_style": tf.concat([tf.squeeze(mu, [1, 2]), mad], 1)}

    rng = np.random.default_rng(3)

    def images(n):
        # Smooth random colour fields, some brighter, some more textured.
        for _ in range(n):
            base = rng.uniform(-1, 1, (1, 4, 4, 3)).astype(np.float32)
            a = tf.image.resize(base, (32, 32)).numpy() + rng.normal(0, rng.uniform(0.02, 0.3), (1, 32, 32, 3))
            yield np.clip(a, -1, 1).astype(np.float32)

    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([a] for a in images(32))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    data = conv.convert()
    it = Interpreter(model_content=data)
    it.allocate_tensors()
    i, outs = it.get_input_details()[0], it.get_output_details()
    assert [list(o["shape"]) for o in outs] == [[1, 3], [1, 16], [1, 12]], [o["shape"] for o in outs]

    def run(n):
        E = [[], []]
        for a in images(n):
            it.set_tensor(i["index"], np.round(a / i["quantization"][0] + i["quantization"][1]).astype(np.int8))
            it.invoke()
            for k in (1, 2):
                s, zp = outs[k]["quantization"]
                E[k - 1].append((it.get_tensor(outs[k]["index"])[0].astype(np.float64) - zp) * s)
        return [np.asarray(e) for e in E]

    fit, line = run(96), run(48)
    gauss = []
    for k, name in ((0, "embedding"), (1, "style")):
        g = ff.fit(fit[k], 3)
        entry = ff.gaussian_entry(k + 1, outs[k + 1], g, float(np.quantile(ff.score(line[k], g), 0.9)))
        entry["fitted_on"] = {"rows": 96, "line": f"0.9 quantile of 48 other random images ({name})"}
        gauss.append(entry)
    d = OUT / "tiny-style-pack"
    d.mkdir(exist_ok=True)
    (d / "model.tflite").write_bytes(data)
    o = outs[0]
    manifest = json.loads((OUT / "tiny-pack" / "manifest.json").read_text())
    manifest.update({
        "id": "tiny-style-test",
        "description": "Untrained 32x32 test network with random weights and a style output "
                       "(scripts/make_test_models.py --style-pack).",
        "sha256": hashlib.sha256(data).hexdigest(),
        "output": {"dtype": "int8", "kind": "logits",
                   "quantization": {"scale": float(o["quantization"][0]), "zero_point": int(o["quantization"][1])}},
        "familiarity": {**gauss[0], "style": gauss[1]},
    })
    manifest["input"]["quantization"] = {"scale": float(i["quantization"][0]), "zero_point": int(i["quantization"][1])}
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"tiny-style-pack: {len(data)} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-mobilenet", action="store_true")
    ap.add_argument("--style-pack", action="store_true", help="make tiny-style-pack/ only")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.style_pack:
        return tiny_style_pack()
    t = tiny(1)
    q = convert(t, [1, 32, 32, 3], True)
    write("tiny_int8.tflite", q)
    write("tiny_float32.tflite", convert(t, [1, 32, 32, 3], False))
    write("tiny_batch4_int8.tflite", convert(tiny(4), [4, 32, 32, 3], True))
    tiny_pack(q)
    if not args.skip_mobilenet:
        m = mobilenet(1)
        write("mobilenetv2_224_int8.tflite", convert(m, [1, 224, 224, 3], True))


if __name__ == "__main__":
    main()
