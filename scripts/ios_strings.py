#!/usr/bin/env python3
"""Generates the iOS app's string tables from the Android app's resources.

The Android resources are the one source of every text the phone apps show,
in English, French, Swahili and Hindi
(android/app/src/main/res/values{,-fr,-sw,-hi}/):

1. strings.xml: the shell logic's catalogue. Written to
   ios/Hemalens/Resources/{en,fr,sw,hi}.lproj/Localizable.strings (every
   <string>) and Localizable.stringsdict (every <plurals>, one variant per
   quantity, in Apple's plural-rule format). Its keys are Swift's `Str`
   (ios/HemalensKit/Sources/HemalensLogic/Strings.swift), Kotlin's `Str`.
2. ui.xml: the screens' own labels (buttons, titles, field labels,
   descriptions). Written to Shell.strings; its keys are Swift's `UiStr`
   (ios/HemalensKit/Sources/HemalensLogic/ShellStrings.swift). The keys in
   INFO_PLIST also go to InfoPlist.strings (NSCameraUsageDescription...),
   and the English text must be the value in ios/Hemalens/Info.plist.

The app's own loader (HemalensLogic's `Catalogue`) reads these files from the
`.lproj` of the language chosen on the first run.

Texts are converted as `aapt2` reads them, then to iOS's format syntax:
Android's `%1$s` becomes `%1$@`; `%1$d` and `%%` stay as they are; the
escapes `\\'`, `\\"`, `\\n`, `\\t`, `\\@`, `\\?`, `\\\\` are undone; surrounding
double quotes are dropped and, outside them, runs of white space are one space.

`--check` writes nothing: it exits 1 when a committed file differs from a
fresh generation; when a Swift enum does not have exactly one case per key,
in the XML's order, named as the key in lowerCamelCase with the key as its
raw value (`case errorSiteMissing = "error_site_missing"`); when `Str.plurals`
does not list exactly the <plurals> keys; when the two files share a key; or
when a language lacks a key, has one English lacks, or changes its
placeholders.

    python3 scripts/ios_strings.py            # regenerate
    python3 scripts/ios_strings.py --check    # CI
"""
import argparse
import plistlib
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "ios" / "Hemalens" / "Resources"
LOGIC = ROOT / "ios" / "HemalensKit" / "Sources" / "HemalensLogic"
# Android resource folder -> iOS localisation (lproj) name.
LANGS = {"values": "en", "values-fr": "fr", "values-sw": "sw", "values-hi": "hi"}
QUANTITIES = ("zero", "one", "two", "few", "many", "other")
# Keys of ui.xml that are also Info.plist entries (InfoPlist.strings).
INFO_PLIST = {"app_name": "CFBundleDisplayName", "ui_camera_permission": "NSCameraUsageDescription"}
# The app's Info.plist: its own (development-region) values must be the English ones.
APP_INFO_PLIST = ROOT / "ios" / "Hemalens" / "Info.plist"


RES = ROOT / "android" / "app" / "src" / "main" / "res"


class Source:
    """One XML file of every values folder, and what is made of it."""

    def __init__(self, file, table, swift, enum, plurals_allowed):
        self.res, self.file, self.table = RES, file, table
        self.swift, self.enum, self.plurals_allowed = swift, enum, plurals_allowed

    def path(self, folder):
        return self.res / folder / self.file


SOURCES = [
    Source("strings.xml", "Localizable", LOGIC / "Strings.swift", "Str", True),
    Source("ui.xml", "Shell", LOGIC / "ShellStrings.swift", "UiStr", False),
]

PLACEHOLDER = re.compile(r"%(?:(\d+)\$)?([sdf%@])")
ANDROID_ESCAPE = {"'": "'", '"': '"', "n": "\n", "t": "\t", "@": "@", "?": "?", "\\": "\\"}


class CatalogueError(Exception):
    pass


def rel(path):
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


def android_text(raw, where):
    """A text as Android shows it (aapt2's rules, the subset a catalogue uses)."""
    out, quoted, i = [], False, 0
    while i < len(raw):
        c = raw[i]
        if c == "\\":
            if i + 1 >= len(raw) or raw[i + 1] not in ANDROID_ESCAPE:
                raise CatalogueError(f"{where}: unsupported escape {raw[i:i + 2]!r}")
            out.append(ANDROID_ESCAPE[raw[i + 1]])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif not quoted and c.isspace():
            if not out or out[-1] != " ":
                out.append(" ")
        else:
            out.append(c)
        i += 1
    if quoted:
        raise CatalogueError(f"{where}: unbalanced double quote")
    return "".join(out).strip(" ")


def plain(e, where):
    if len(e):
        raise CatalogueError(f"{where}: markup inside; plain text only")
    return android_text(e.text or "", where)


def read_xml(path):
    """{key: text} for <string>, {key: {quantity: text}} for <plurals>, and every name in file order."""
    strings, plurals, order = {}, {}, []
    for e in ET.parse(path).getroot():
        name = e.get("name")
        where = f"{rel(path)}:{name}"
        if name in strings or name in plurals:
            raise CatalogueError(f"{where}: twice")
        if e.get("translatable") == "false":
            raise CatalogueError(f"{where}: translatable=false; keep every text in every language")
        if e.tag == "string":
            strings[name] = plain(e, where)
        elif e.tag == "plurals":
            forms = {}
            for item in e:
                q = item.get("quantity")
                if item.tag != "item" or q not in QUANTITIES or q in forms:
                    raise CatalogueError(f"{where}: bad <{item.tag} quantity={q!r}>")
                forms[q] = plain(item, f"{where}[{q}]")
            if "other" not in forms:
                raise CatalogueError(f"{where}: no quantity=\"other\"")
            plurals[name] = forms
        else:
            raise CatalogueError(f"{rel(path)}: <{e.tag}> is not supported (only <string> and <plurals>)")
        order.append(name)
    return strings, plurals, order


def to_ios(text, where):
    """Android placeholders to iOS's: `%1$s` -> `%1$@`; `%1$d`, `%%` unchanged."""

    def sub(m):
        pos, kind = m.group(1), m.group(2)
        if kind == "%":
            return "%%"
        if kind == "@":
            raise CatalogueError(f"{where}: %@ is not an Android placeholder (write %1$s)")
        return "%" + (pos + "$" if pos else "") + ("@" if kind == "s" else kind)

    if "%" in PLACEHOLDER.sub("", text):
        raise CatalogueError(f"{where}: a '%' that is not a placeholder (write %% for a percent sign)")
    return PLACEHOLDER.sub(sub, text)


def placeholders(text):
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text) if m.group(2) != "%")


def strings_literal(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def header(src, folder, lang, kind):
    return (f"GENERATED by scripts/ios_strings.py from {rel(src.path(folder))} "
            f"({lang}, {kind}). Do not edit: change that file and run `python3 scripts/ios_strings.py`.")


def render_strings(head, entries):
    lines = [f"/* {head} */", ""]
    lines += [f"{strings_literal(k)} = {strings_literal(v)};" for k, v in entries]
    return "\n".join(lines) + "\n"


def render_stringsdict(head, entries):
    """Apple's plural-rule format: the count is the first argument (`%1$#@count@`)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
        f"<!-- {escape(head)} -->",
        '<plist version="1.0">',
        "<dict>",
    ]
    for key, forms in entries:
        lines += [
            f"\t<key>{escape(key)}</key>",
            "\t<dict>",
            "\t\t<key>NSStringLocalizedFormatKey</key>",
            "\t\t<string>%1$#@count@</string>",
            "\t\t<key>count</key>",
            "\t\t<dict>",
            "\t\t\t<key>NSStringFormatSpecTypeKey</key>",
            "\t\t\t<string>NSStringPluralRuleType</string>",
            "\t\t\t<key>NSStringFormatValueTypeKey</key>",
            "\t\t\t<string>d</string>",
        ]
        for q in QUANTITIES:
            if q in forms:
                lines += [f"\t\t\t<key>{q}</key>", f"\t\t\t<string>{escape(forms[q])}</string>"]
        lines += ["\t\t</dict>", "\t</dict>"]
    lines += ["</dict>", "</plist>"]
    return "\n".join(lines) + "\n"


def camel(key):
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def swift_enum_body(src):
    text = src.swift.read_text(encoding="utf-8")
    m = re.search(r"\benum " + src.enum + r"\b[^{]*\{(.*?)\n\}", text, re.S)
    if not m:
        raise CatalogueError(f"{rel(src.swift)}: no `enum {src.enum}`")
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", m.group(1), flags=re.S)


def swift_cases(src, body):
    """(case name, raw value) of the enum, in order."""
    cases = []
    for line in body.splitlines():
        line = line.strip()
        if not line.startswith("case "):
            continue
        for part in line[5:].split(","):
            cm = re.fullmatch(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*', part)
            if not cm:
                raise CatalogueError(f"{rel(src.swift)}: `case {part.strip()}` needs its key as raw value")
            cases.append((cm.group(1), cm.group(2)))
    return cases


def swift_plurals(src, body):
    """The cases listed in `static let plurals: Set<Str> = [.a, .b]`."""
    m = re.search(r"static\s+let\s+plurals\s*:\s*Set<" + src.enum + r">\s*=\s*\[([^\]]*)\]", body)
    if not m:
        raise CatalogueError(f"{rel(src.swift)}: no `static let plurals: Set<{src.enum}> = [...]` in `enum {src.enum}`")
    return [p.strip().lstrip(".") for p in m.group(1).split(",") if p.strip()]


def check_source(src):
    """(problems, {folder: (strings, plurals)}, English keys in order) of one catalogue."""
    out = []
    tables = {}
    for folder in LANGS:
        strings, plurals, _ = read_xml(src.path(folder))
        tables[folder] = (strings, plurals)
    en_strings, en_plurals, file_order = read_xml(src.path("values"))
    if en_plurals and not src.plurals_allowed:
        out.append(f"{rel(src.path('values'))}: <plurals> {sorted(en_plurals)} are not supported here")
    english_ph = {k: placeholders(v) for k, v in en_strings.items()}
    english_ph.update({k: placeholders(v["other"]) for k, v in en_plurals.items()})
    for folder, (strings, plurals) in tables.items():
        where = rel(src.path(folder))
        out += [f"{where} lacks {k}" for k in en_strings if k not in strings]
        out += [f"{where} lacks plurals {k}" for k in en_plurals if k not in plurals]
        out += [f"{where} has {k}, which English lacks" for k in strings if k not in en_strings]
        out += [f"{where} has plurals {k}, which English lacks" for k in plurals if k not in en_plurals]
        out += [f"{where}:{k} is blank" for k, v in strings.items() if not v.strip()]
        out += [
            f"{where}:{k} placeholders {placeholders(v)} differ from English {english_ph[k]}"
            for k, v in strings.items()
            if k in en_strings and placeholders(v) != english_ph[k]
        ]
        for k, forms in plurals.items():
            if k not in en_plurals:
                continue
            for q, v in forms.items():
                ph = placeholders(v)
                # A form may leave the count out ("one more field"), nothing else.
                if ph != english_ph[k] and ph != [p for p in english_ph[k] if p != "%1$d"]:
                    out.append(f"{where}:{k}[{q}] placeholders {ph} differ from English {english_ph[k]}")
                if not v.strip():
                    out.append(f"{where}:{k}[{q}] is blank")
    # The Swift enum: every key, in the file's order.
    keys = file_order
    body = swift_enum_body(src)
    cases = swift_cases(src, body)
    names = [c for c, _ in cases]
    raws = [r for _, r in cases]
    sw = rel(src.swift)
    for name, raw in cases:
        if raw not in keys:
            out.append(f"{sw}: case {name} = \"{raw}\" is not a key of {rel(src.path('values'))}")
        elif name != camel(raw):
            out.append(f"{sw}: case {name} should be named {camel(raw)} (key {raw})")
    out += [f"{sw}: no case for key {k} (add `case {camel(k)} = \"{k}\"`)" for k in keys if k not in raws]
    out += [f"{sw}: case {n} twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if not out and raws != keys:
        out.append(f"{sw}: the cases are not in the order of {rel(src.path('values'))} (keep them parallel)")
    if src.plurals_allowed:
        want = sorted(camel(k) for k in en_plurals)
        if sorted(swift_plurals(src, body)) != want:
            out.append(f"{sw}: {src.enum}.plurals must be exactly {['.' + p for p in want]}")
    return out, tables, en_strings, en_plurals


def generate():
    """(problems, {path: text}) for both catalogues."""
    bad, files, seen = [], {}, {}
    for src in SOURCES:
        problems, tables, en_strings, en_plurals = check_source(src)
        bad += problems
        for k in list(en_strings) + list(en_plurals):
            if k in seen:
                bad.append(f"{k} is in both {seen[k]} and {src.file}")
            seen[k] = src.file
        for folder, (strings, plurals) in tables.items():
            if any(k not in strings for k in en_strings) or any(k not in plurals for k in en_plurals):
                continue  # reported; not written
            lang = LANGS[folder]
            lproj = OUT / f"{lang}.lproj"
            conv = lambda k, t, q="": to_ios(t, f"{rel(src.path(folder))}:{k}{q}")  # noqa: E731
            entries = [(k, conv(k, strings[k])) for k in en_strings]
            files[lproj / f"{src.table}.strings"] = render_strings(header(src, folder, lang, "<string>"), entries)
            if en_plurals:
                pl = [(k, {q: conv(k, t, f"[{q}]") for q, t in plurals[k].items()}) for k in en_plurals]
                files[lproj / f"{src.table}.stringsdict"] = render_stringsdict(header(src, folder, lang, "<plurals>"), pl)
            if src.table == "Shell":
                info = [(INFO_PLIST[k], conv(k, strings[k])) for k in en_strings if k in INFO_PLIST]
                files[lproj / "InfoPlist.strings"] = render_strings(header(src, folder, lang, "Info.plist"), info)
                if folder == "values" and APP_INFO_PLIST.exists():
                    plist = plistlib.loads(APP_INFO_PLIST.read_bytes())
                    bad += [
                        f"{rel(APP_INFO_PLIST)}: {key} must be the English text of {k} in {rel(src.path('values'))}"
                        for k, key in INFO_PLIST.items()
                        if plist.get(key) != strings.get(k)
                    ]
    return bad, files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="fail when the committed files or the Swift enums are stale")
    args = ap.parse_args()
    try:
        bad, files = generate()
    except (CatalogueError, ET.ParseError, OSError) as e:
        print(f"ios_strings: {e}", file=sys.stderr)
        return 1
    for line in bad:
        print(f"ios_strings: {line}", file=sys.stderr)
    stale = []
    for path, text in files.items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(rel(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel(path)}")
    for r in stale:
        print(f"ios_strings: {r} is stale: run `python3 scripts/ios_strings.py`", file=sys.stderr)
    if bad or stale:
        return 1
    verb = "up to date" if args.check else "written"
    print(f"iOS strings {verb}: {len(files)} files in {len(LANGS)} languages; the Swift enums Str and UiStr match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
