"""The platform-engine seam (issue 13): an app may hand the core its own
TensorFlow Lite interpreter through the `PlatformEngine` foreign trait. Here the
app is Python and its interpreter is `ai_edge_litert`'s: the field reports must
be bitwise the same as with the LiteRT linked into the library, and an engine
that fails or answers wrongly must give a typed `HemalensError`, never a crash.

The bindings come from conftest's `hl` fixture (the committed package beside
the built library)."""
import csv
import enum
import struct
import threading

import numpy as np
import pytest

from conftest import ROOT

Interpreter = pytest.importorskip("ai_edge_litert.interpreter").Interpreter

DEMO = ROOT / "tests" / "fixtures" / "demo" / "eyepiece_bccd_00339.jpg"
KEY = bytes(range(32))


def photos(data):
    """The demo photo and six bccd_fields frames, two of each of three white-cell types."""
    with open(data / "bccd_fields" / "labels.csv", newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["path"])
    picked = []
    for label in ("neutrophil", "lymphocyte", "eosinophil"):
        picked += [r["path"] for r in rows if r["label"] == label][:2]
    assert len(picked) == 6, picked
    return [DEMO] + [data / "bccd_fields" / p for p in picked]


def python_engine(hl):
    """`hemalens.PlatformEngine` over ai_edge_litert's Interpreter, written as an
    app would: handles to interpreters, bytes in and out."""
    elements = {
        np.dtype(np.float32): hl.TensorElement.FLOAT32,
        np.dtype(np.int8): hl.TensorElement.INT8,
        np.dtype(np.uint8): hl.TensorElement.UINT8,
        np.dtype(np.int32): hl.TensorElement.INT32,
    }

    def desc(d):
        scale, zero_point = d["quantization"]
        quantised = scale != 0.0
        return hl.TensorDesc(
            shape=[int(v) for v in d["shape"]],
            element_type=elements[np.dtype(d["dtype"])],
            scale=float(scale) if quantised else None,
            zero_point=int(zero_point) if quantised else None,
        )

    class PythonLiteRt(hl.PlatformEngine):
        def __init__(self):
            self.lock = threading.Lock()
            self.models = {}
            self.next = 0
            self.threads = []
            self.runs = 0
            self.released = []

        def load(self, model, threads):
            model = bytes(model)
            it = Interpreter(model_content=model, num_threads=threads)
            it.allocate_tensors()
            with self.lock:
                self.next += 1
                # The bytes are kept with the interpreter, which reads them in place.
                self.models[self.next] = (it, model)
                self.threads.append(threads)
                return self.next

        def interpreter(self, model):
            with self.lock:
                return self.models[model][0]

        def tensors(self, model):
            it = self.interpreter(model)
            # get_output_details() lists the subgraph's outputs in the model's
            # order (logits, then embedding), the order LiteRT's default
            # signature has; their tensor indices run the other way (179, 178),
            # so never sort by index.
            return hl.ModelTensors(
                inputs=[desc(d) for d in it.get_input_details()],
                outputs=[desc(d) for d in it.get_output_details()],
            )

        def run(self, model, input):
            it = self.interpreter(model)
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], np.frombuffer(input, dtype=d["dtype"]).reshape(d["shape"]))
            it.invoke()
            with self.lock:
                self.runs += 1
            return [it.get_tensor(o["index"]).tobytes() for o in it.get_output_details()]

        def release(self, model):
            with self.lock:
                del self.models[model]
                self.released.append(model)

    return PythonLiteRt


def bits(v):
    """A report as plain data with every float as its bytes, for bitwise equality."""
    if isinstance(v, float):
        return ("f64", struct.pack("<d", v))
    if isinstance(v, (bool, int, str, bytes)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [bits(x) for x in v]
    if isinstance(v, dict):
        return {k: bits(x) for k, x in v.items()}
    if isinstance(v, enum.Enum):
        return ("enum", type(v).__name__, v.name)
    if hasattr(v, "__dict__"):
        return (type(v).__name__, {k: bits(x) for k, x in vars(v).items()})
    raise TypeError(f"cannot compare a {type(v).__name__}")


def floats_in(v):
    if isinstance(v, tuple) and v and v[0] == "f64":
        return 1
    if isinstance(v, (list, tuple)):
        return sum(floats_in(x) for x in v)
    if isinstance(v, dict):
        return sum(floats_in(x) for x in v.values())
    return 0


def test_python_engine_gives_bitwise_the_same_reports(hl, data, tmp_path):
    engine = python_engine(hl)()
    config = hl.ScreenerConfig(threads=2, pack_dir=None)
    native = hl.Screener.open(str(tmp_path / "native"), KEY, config)
    seam = hl.Screener.open_with_engine(str(tmp_path / "seam"), KEY, config, engine)
    # Two workers (threads=2), each with an all-screen and a wbc-type model of one thread.
    assert sorted(engine.threads) == [1, 1, 1, 1]
    assert seam.packs() == native.packs()

    compared = screened = cells = 0
    for path in photos(data):
        photo = path.read_bytes()
        runs = engine.runs
        a = native.analyze(photo)
        b = seam.analyze(photo)
        assert a == b, f"{path.name}: reports differ"
        ba = bits(a)
        assert ba == bits(b), f"{path.name}: reports differ in some float's bits"
        compared += floats_in(ba)
        if b.screen is not None:
            screened += 1
            assert engine.runs > runs, f"{path.name}: the Python engine was not used"
        cells += len(b.cells)
    # The comparison means something: the models ran, on cells and on fields.
    assert screened >= 4, screened
    assert cells >= 4, cells
    assert compared > 50, compared

    seam.shutdown()
    assert not engine.models, "every model handle is released when the screener closes"
    assert sorted(engine.released) == [1, 2, 3, 4]
    native.shutdown()


def faulty(hl, fault):
    """The Python engine, spoiled in one way."""
    base = python_engine(hl)

    class Faulty(base):
        def load(self, model, threads):
            if fault == "load raises":
                raise hl.HemalensError.Internal("the interpreter could not be created: secret detail")
            return super().load(model, threads)

        def tensors(self, model):
            t = super().tensors(model)
            if fault == "wrong shape":
                t.outputs[0].shape = [1, 3]
            if fault == "outputs swapped":
                t.outputs.reverse()
            return t

        def run(self, model, input):
            out = super().run(model, input)
            if fault == "run raises HemalensError":
                raise hl.HemalensError.Internal("secret detail")
            if fault == "run raises RuntimeError":
                raise RuntimeError("secret detail")
            if fault == "short output":
                out[0] = out[0][:-1]
            if fault == "long output":
                out[1] = out[1] + b"\0"
            if fault == "missing output":
                out = out[:1]
            if fault == "not bytes":
                out = [42]
            return out

    return Faulty()


@pytest.mark.parametrize(
    "fault, when, code",
    [
        ("load raises", "open", "engine"),
        ("wrong shape", "open", "pack_mismatch"),
        ("outputs swapped", "open", "pack_mismatch"),
        ("run raises HemalensError", "analyze", "engine"),
        ("run raises RuntimeError", "analyze", "engine"),
        ("short output", "analyze", "engine"),
        ("long output", "analyze", "engine"),
        ("missing output", "analyze", "engine"),
        ("not bytes", "analyze", "engine"),
    ],
)
def test_a_failing_engine_gives_a_typed_error(hl, tmp_path, fault, when, code):
    engine = faulty(hl, fault)
    config = hl.ScreenerConfig(threads=1, pack_dir=None)
    photo = DEMO.read_bytes()
    if when == "open":
        with pytest.raises(hl.HemalensError) as e:
            hl.Screener.open_with_engine(str(tmp_path), KEY, config, engine)
    else:
        s = hl.Screener.open_with_engine(str(tmp_path), KEY, config, engine)
        with pytest.raises(hl.HemalensError) as e:
            s.analyze(photo)
        # Still a working screener: a good photo again gives the same typed error.
        with pytest.raises(hl.HemalensError.ModelProblem):
            s.analyze(photo)
        s.shutdown()
    assert isinstance(e.value, hl.HemalensError.ModelProblem), repr(e.value)
    assert e.value.code == code, repr(e.value)
    assert "secret" not in str(e.value), "the engine's own text never crosses back"
    assert not engine.models, "every model loaded is released (after a failed open, or on close)"
