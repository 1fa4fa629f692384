#!/usr/bin/env python3
"""Generates the small test models in tests/fixtures/models/ (committed).

They are not trained: weights are random with a fixed seed. They exist so the
engine, pack loader and CLI can be tested before and besides the real packs:
- tiny_int8.tflite       1x32x32x3 int8 -> 1x3 int8 logits (conv, pool, dense)
- tiny_float32.tflite    the same network in float32
- tiny_batch4_int8.tflite the same network with a fixed batch of 4
- mobilenetv2_224_int8.tflite   MobileNetV2 width 1.0 at 224x224, int8 (bench)
plus a pack directory `tiny-pack/` (manifest.json + model.tflite) for loader tests.

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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-mobilenet", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
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
