#!/usr/bin/env python3
"""Syntax-checks the generated Swift bindings and the iOS app's Swift (ios/)
with tree-sitter-swift. The bindings that ios/ links into its Swift package
(symbolic links) are checked once, where they are generated. The iOS shell's
plain logic (ios/HemalensKit/Sources/HemalensLogic) may import Foundation and
the bindings only.

Swift is NOT compiled here (no Swift toolchain can be had on this machine):
this only proves the files parse. The generated files' `#if swift(>=5.8)
@_documentation(...) #endif` blocks, which tree-sitter-swift cannot parse,
are stripped first (they only hide symbols from documentation), and the
closure `{ () }` (valid Swift: returns the empty tuple) is read as `{ }`,
which means the same and which tree-sitter-swift 0.7.4 can parse."""
import re
import sys
from pathlib import Path

import tree_sitter as ts
import tree_sitter_swift as tss

ROOT = Path(__file__).resolve().parents[1]
# The iOS shell's plain logic may import only these (no UIKit, SwiftUI, AVFoundation...):
# it is unit-tested with `swift test` and mirrors android/logic.
LOGIC = ROOT / "ios" / "HemalensKit" / "Sources" / "HemalensLogic"
LOGIC_IMPORTS = {"Foundation", "HemalensBindings"}
IMPORT = re.compile(r"^\s*(?:@\w+\s+)?import\s+(?:(?:class|struct|enum|protocol|func|var|let|typealias)\s+)?([A-Za-z_][\w.]*)", re.M)
DOC_BLOCK = re.compile(r"#if swift\(>=5\.8\)\s*\n\s*@_documentation\([^)]*\)\s*\n\s*#endif\s*\n")


def errors(tree):
    out, stack = [], [tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR" or n.is_missing:
            out.append(n)
        elif n.has_error:
            stack.extend(n.children)
    return out


def main():
    parser = ts.Parser(ts.Language(tss.language()))
    files = sorted((ROOT / "rust-core" / "ffi" / "bindings" / "swift").glob("*.swift"))
    bad = 0
    # ios/ links the generated bindings into its Swift package (checked above,
    # once): a link must lead to one of them.
    for f in sorted((ROOT / "ios").rglob("*.swift")) if (ROOT / "ios").exists() else []:
        if not f.is_symlink():
            files.append(f)
        elif f.resolve() not in [g.resolve() for g in files] or not f.resolve().exists():
            print(f"FAIL {f.relative_to(ROOT)}: a link, but not to a generated binding in rust-core/ffi/bindings/swift")
            bad += 1
    if not files:
        print("no Swift files found", file=sys.stderr)
        return 1
    for f in files:
        src = DOC_BLOCK.sub("", f.read_text()).replace("{ () }", "{ }")
        errs = errors(parser.parse(src.encode()))
        for n in errs[:5]:
            print(f"{f.relative_to(ROOT)}:{n.start_point[0] + 1}:{n.start_point[1] + 1}: syntax error")
        if LOGIC in f.parents:
            extra = sorted({m.split(".")[0] for m in IMPORT.findall(src)} - LOGIC_IMPORTS)
            for m in extra:
                print(f"{f.relative_to(ROOT)}: imports {m}; HemalensLogic is Foundation only")
            errs = errs or extra
        bad += bool(errs)
        print(f"{'ok  ' if not errs else 'FAIL'} {f.relative_to(ROOT)} ({src.count(chr(10))} lines)")
    print("Swift: syntax checked with tree-sitter-swift only; NOT compiled (no Swift toolchain on this machine).")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
