#!/usr/bin/env python3
"""What the bindings cost: `Screener.analyze` on the bench's 12 MP eyepiece
photos, called from Rust (the baseline), from Python and from Kotlin, in one
run, the three alternated so that they share the machine's state. Reports the
median per photo and each binding's overhead over Rust (target: <= 3%).

Needs target/release (cargo build --release -p hemalens-ffi --examples), the
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
for _ in range(rounds):
    for i, d in enumerate(data):
        t = time.perf_counter()
        s.analyze(d)
        print(i, f"{(time.perf_counter() - t) * 1e3:.4f}")
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
    r = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return [float(line.split()[1]) for line in r.stdout.splitlines() if line.strip()]


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
        got = {name: [] for name in runners}
        for _ in range(a.reps):
            for name, cmd in runners.items():
                got[name] += times([*cmd, str(a.rounds), *pics], env=env)
    med = {n: statistics.median(v) for n, v in got.items()}
    rows = {n: {"median_ms": round(m, 3), "n": len(got[n]),
                "overhead_pct": round(100 * (m / med["rust"] - 1), 2)} for n, m in med.items()}
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"Screener.analyze on {len(pics)} simulated 12 MP eyepiece photos, {a.reps} x {a.rounds} passes each, alternated")
    for n, r in rows.items():
        note = "baseline" if n == "rust" else ("ok (target <= 3%)" if r["overhead_pct"] <= 3 else "MISSED (target <= 3%)")
        print(f"  {n:<7} median {r['median_ms']:8.3f} ms  ({r['n']} calls)  {r['overhead_pct']:+6.2f}%  {note}")
    if "kotlin" not in rows:
        print("  kotlin  skipped: kotlinc (.tools) or JNA not found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
