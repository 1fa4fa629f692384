#!/usr/bin/env python3
"""What the bindings cost: `Screener.analyze` on the bench's 12 MP eyepiece
photos, called from Python and from Kotlin and timed around the call, against
the same analysis timed inside the library (`analyze_timed_ms`) in the same
process, call for call alternated (which goes first alternating too). The
bindings' own cost (the photo's bytes in, the report out, the call) is also
timed on its own (`bench_crossing`: the photo in, the last report out, no
analysis), and reported as a share of the analysis. Target: <= 3%. A Rust
process calling the façade directly (examples/analyze_direct.rs) is run
alongside, for reference.

Needs target/release (cargo build --release --workspace --examples), the
committed bindings, and for Kotlin kotlinc (.tools) and JNA."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REL = ROOT / "target" / "release"


def photos(tmp, n):
    out = Path(tmp) / "sims"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "simulate_eyepiece.py"), "--source", "bccd",
                    "--split", "val", "--n", str(n), "--rbc", "140", "--seed", "3", "--out", str(out)],
                   check=True, capture_output=True)
    return sorted(str(p) for p in out.glob("*.jpg"))


def python_package(tmp):
    pkg = Path(tmp) / "py" / "hemalens"
    shutil.copytree(ROOT / "rust-core" / "ffi" / "bindings" / "python" / "hemalens", pkg)
    for so in ("libhemalens_ffi.so", "libLiteRt.so"):
        shutil.copy(REL / so, pkg / so)
    return pkg.parent


PY_LOOP = """
import sys, tempfile, time
import hemalens
rounds, paths = int(sys.argv[1]), sys.argv[2:]
data = [open(p, 'rb').read() for p in paths]
s = hemalens.Screener.open(tempfile.mkdtemp(), hemalens.generate_key(), hemalens.ScreenerConfig(threads=2, pack_dir=None))
for _ in range(3):
    for d in data:
        s.analyze(d)
def call(d):
    t = time.perf_counter()
    s.analyze(d)
    print("call", f"{(time.perf_counter() - t) * 1e3:.4f}")
for r in range(rounds):
    for i, d in enumerate(data):
        # Which of the two goes first alternates: the second of a pair finds
        # the photo's data warm.
        if (r + i) % 2:
            print("rust", f"{s.analyze_timed_ms(d):.4f}")
            call(d)
        else:
            call(d)
            print("rust", f"{s.analyze_timed_ms(d):.4f}")
        t = time.perf_counter()
        s.bench_crossing(d)
        print("cross", f"{(time.perf_counter() - t) * 1e3:.4f}")
s.shutdown()
"""


def kotlin_jar(tmp):
    kotlinc = Path(os.environ.get("KOTLINC", ROOT / ".tools" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"))
    jna = os.environ.get("JNA_JAR", "/usr/share/java/jna.jar")
    if not kotlinc.exists() or not Path(jna).exists():
        return None
    jar = Path(tmp) / "bench.jar"
    srcs = [str(p) for p in (ROOT / "rust-core" / "ffi" / "bindings" / "kotlin").rglob("*.kt")]
    subprocess.run([str(kotlinc), "-nowarn", "-cp", jna, "-d", str(jar), *srcs, str(ROOT / "tests" / "kotlin" / "Bench.kt")],
                   check=True, capture_output=True)
    stdlib = kotlinc.parent.parent / "lib" / "kotlin-stdlib.jar"
    return ["java", f"-Djna.library.path={REL}", "-cp", f"{jna}:{stdlib}:{jar}", "BenchKt"]


def times(cmd, env=None):
    """{"call": [...], "rust": [...], "cross": [...]} in milliseconds (the Rust process prints index and time)."""
    r = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    out = {}
    for line in r.stdout.splitlines():
        if line.strip():
            k, v = line.split()
            out.setdefault(k if k in ("call", "rust", "cross", "copy") else "call", []).append(float(v))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6, help="passes over the photos per process")
    ap.add_argument("--reps", type=int, default=3, help="times each language's process is run, alternated")
    ap.add_argument("--photos", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pics = photos(tmp, a.photos)
        runners = {"rust": [str(REL / "examples" / "analyze_direct")]}
        env = dict(os.environ, PYTHONPATH=str(python_package(tmp)))
        runners["python"] = [sys.executable, "-c", PY_LOOP]
        k = kotlin_jar(tmp)
        if k:
            runners["kotlin"] = k
        got = {name: {} for name in runners}
        for _ in range(a.reps):
            for name, cmd in runners.items():
                for k, v in times([*cmd, str(a.rounds), *pics], env=env).items():
                    got[name].setdefault(k, []).extend(v)
    rows = {}
    for name, t in got.items():
        call = statistics.median(t["call"])
        row = {"call_ms": round(call, 3), "n": len(t["call"])}
        if "rust" in t:
            inner = statistics.median(t["rust"])
            cross = statistics.median(t["cross"])
            row.update(inside_ms=round(inner, 3), paired_pct=round(100 * (call / inner - 1), 2),
                       crossing_ms=round(cross, 3), overhead_pct=round(100 * cross / inner, 2))
        if "copy" in t:
            row["copy_to_direct_buffer_ms"] = round(statistics.median(t["copy"]), 3)
        rows[name] = row
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"Screener.analyze on {len(pics)} simulated 12 MP eyepiece photos, {a.reps} x {a.rounds} passes per language")
    r = rows["rust"]
    print(f"  rust    (a Rust process calling the façade)  median {r['call_ms']:8.3f} ms  ({r['n']} calls)")
    for n, r in rows.items():
        if n == "rust":
            continue
        verdict = "ok (target <= 3%)" if r["overhead_pct"] <= 3 else "MISSED (target <= 3%)"
        print(f"  {n:<7} crossing {r['crossing_ms']:6.3f} ms = {r['overhead_pct']:5.2f}% of the analysis"
              f" ({r['inside_ms']:.3f} ms inside the library)  {verdict}")
        print(f"          median around the call {r['call_ms']:.3f} ms vs inside {r['inside_ms']:.3f} ms,"
              f" call for call in the same process: {r['paired_pct']:+.2f}% (noisy: two 25 ms figures)")
        if "copy_to_direct_buffer_ms" in r:
            print(f"          (photos cross as direct ByteBuffers, as CameraX gives them; copying a ByteArray"
                  f" into one would add {r['copy_to_direct_buffer_ms']:.3f} ms)")
    if "kotlin" not in rows:
        print("  kotlin  skipped: kotlinc (.tools) or JNA not found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
