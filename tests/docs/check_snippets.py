#!/usr/bin/env python3
"""Compiles the C++ snippets of the documentation, so that they cannot drift from the headers.

usage: check_snippets.py --root DIR --work DIR [--skip-include HEADER]... --cxx CXX FILE.md...
                         -- COMPILER FLAGS...

Every ```cpp block of the given Markdown files is checked; the words after `cpp` in the fence's
info string say how (GitHub highlights by the first word only):

  ```cpp               a whole source file, compiled as it stands. When its first line is a
                       comment naming a file (`// net.hpp`, `// train.cpp`), it is written under
                       that name, so that later snippets of the same document can include it.
  ```cpp continued     more of the previous snippet of the same document (e.g. a function that
                       uses the network the previous snippet declared): compiled together.
  ```cpp fragment      statements, compiled as the body of a function that sees the names the
                       docs take as given: `Net` (getting-started.md's network), `net`, `adam`
                       (ctnn::Adam), the Datasets `train`, `test` and `full_train`, and
                       `ctnn::FitOptions o`. Its #include lines go to the top of the file.
  ```cpp declarations  declarations (types, functions) in a namespace of their own that sees
                       the same names; #include lines go to the top of the file. One that
                       defines main is compiled in a file of its own, at global scope.
  ```cpp synopsis      a declaration as the reference spells it, with parts left out: not
                       compiled.
  ```cpp error         must not compile (a deliberate mistake), compiled as declarations.

Any other word is refused, so that a misspelt kind cannot skip a snippet. Fragments and
declarations of all files are compiled in one translation unit, each whole file (with its
continuations) in its own; #line directives make the compiler name the Markdown file and line.
A snippet that includes a --skip-include header (e.g. ctnn/distributed/mpi.hpp without MPI) is
reported as skipped. Uses the Python standard library only; exit status 1 when a snippet fails.
"""

import argparse
import os
import re
import subprocess
import sys

KINDS = {"", "continued", "fragment", "declarations", "synopsis", "error"}
FENCE = re.compile(r"^(\s*)```(\S*)(.*)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
MAIN = re.compile(r"\bint\s+main\s*\(")
NAMED = re.compile(r"^//\s*([A-Za-z0-9_.-]+\.(?:hpp|h|cpp))\b")

PRELUDE = """\
#include <ctnn/ctnn.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>
"""

GIVEN = """\
// The names the docs' fragments take as given (getting-started.md).
namespace ctnn_docs {
using Net = ctnn::Sequential<ctnn::Input<28, 28, 1>, ctnn::Conv2D<16, 3>, ctnn::ReLU,
                             ctnn::MaxPool2D<2>, ctnn::Conv2D<32, 3>, ctnn::ReLU,
                             ctnn::MaxPool2D<2>, ctnn::Dense<64>, ctnn::ReLU,
                             ctnn::Dropout<0.25f>, ctnn::Dense<10>>;
extern Net net;
extern ctnn::Adam adam;
extern const ctnn::data::Dataset train, test, full_train;
extern ctnn::FitOptions o;
}  // namespace ctnn_docs
// Fragments show a step, not a program: a value computed for the reader may stay unused.
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-local-typedefs"
"""


class Snippet:
    def __init__(self, doc, line, kind, lines):
        self.doc, self.line, self.kind, self.lines = doc, line, kind, lines

    def where(self):
        return f"{self.doc}:{self.line}"

    def includes(self):
        return [m.group(1) for m in map(INCLUDE.match, self.lines) if m]

    def located(self, lines=None):
        body = self.lines if lines is None else lines
        return f'#line {self.line + 1} "{self.doc}"\n' + "\n".join(body) + "\n"


def parse(root, doc):
    """The ```cpp blocks of one Markdown file, in order."""
    with open(os.path.join(root, doc), encoding="utf-8") as f:
        text = f.read().split("\n")
    snippets, i = [], 0
    while i < len(text):
        m = FENCE.match(text[i])
        if not m:
            i += 1
            continue
        indent, lang, info = len(m.group(1)), m.group(2), m.group(3).split()
        j = i + 1
        while j < len(text) and not re.match(r"^\s*```\s*$", text[j]):
            j += 1
        if j == len(text):
            raise SystemExit(f"{doc}:{i + 1}: a code block that is never closed")
        if lang == "cpp":
            kind = info[0] if info else ""
            if kind not in KINDS or len(info) > 1:
                raise SystemExit(f"{doc}:{i + 1}: unknown snippet kind '{' '.join(info)}' "
                                 f"(expected one of: {', '.join(sorted(k for k in KINDS if k))}, "
                                 "or none for a whole file)")
            body = [line[indent:] if line[:indent].strip() == "" else line
                    for line in text[i + 1:j]]
            snippets.append(Snippet(doc, i + 1, kind, body))
        i = j + 1
    return snippets


def stem(doc):
    """A file name part for a document: docs/training.md -> docs_training_md."""
    return re.sub(r"[^A-Za-z0-9]+", "_", doc)


def split_includes(snippet):
    """The #include lines of a snippet, and its lines with those blanked (line numbers kept)."""
    includes = [line for line in snippet.lines if INCLUDE.match(line)]
    return includes, ["" if INCLUDE.match(line) else line for line in snippet.lines]


def compile_unit(args, name, source, expect_failure=False):
    path = os.path.join(args.work, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(source)
    cmd = [args.cxx] + args.flags + ["-fsyntax-only", "-I", args.work, path]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       cwd=args.root)
    return (r.returncode != 0) if expect_failure else (r.returncode == 0), r.stdout, cmd


def main():
    argv = sys.argv[1:]
    flags = []
    if "--" in argv:
        k = argv.index("--")
        argv, flags = argv[:k], argv[k + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="the repository (Markdown paths are relative)")
    p.add_argument("--work", required=True, help="a scratch directory for the extracted files")
    p.add_argument("--cxx", required=True, help="the C++ compiler")
    p.add_argument("--skip-include", action="append", default=[],
                   help="skip the snippets that include this header")
    p.add_argument("docs", nargs="+", help="Markdown files, relative to --root")
    args = p.parse_args(argv)
    args.flags = flags
    os.makedirs(args.work, exist_ok=True)

    failures, counts, skipped = [], {}, []
    units = []      # (name, [snippets]) of whole files and their continuations
    loose = []      # fragments and declarations
    errors = []     # snippets that must not compile
    programs = []   # declarations with a main
    for doc in args.docs:
        previous = None
        for s in parse(args.root, doc):
            counts[s.kind or "file"] = counts.get(s.kind or "file", 0) + 1
            if any(h in args.skip_include for h in s.includes()):
                skipped.append(s)
                previous = None
                continue
            if s.kind == "":
                m = NAMED.match(s.lines[0]) if s.lines else None
                name = stem(doc) + (f"_{m.group(1)}" if m else f"_{s.line}.cpp")
                units.append((name, m.group(1) if m else None, [s]))
                previous = units[-1]
            elif s.kind == "continued":
                if previous is None:
                    failures.append((s, "a 'continued' snippet with no whole file before it", []))
                else:
                    previous[2].append(s)
            elif s.kind == "declarations" and any(MAIN.search(line) for line in s.lines):
                programs.append(s)
            elif s.kind in ("fragment", "declarations"):
                loose.append(s)
            elif s.kind == "error":
                errors.append(s)

    # Whole files. A named one is written under its name (for the includes of later snippets);
    # a header is compiled through a file that includes it.
    for name, own_name, parts in units:
        source = "".join(part.located() for part in parts)
        if own_name:
            with open(os.path.join(args.work, own_name), "w", encoding="utf-8") as f:
                f.write(source)
        if own_name and not own_name.endswith(".cpp"):
            source = f'#include "{own_name}"\n'
        if not name.endswith(".cpp"):
            name += ".cpp"
        ok, out, cmd = compile_unit(args, name, source)
        print(("ok    " if ok else "FAIL  ") + parts[0].where() + " (whole file)")
        if not ok:
            failures.append((parts[0], out, cmd))

    # Fragments and declarations, one namespace each, in one file.
    if loose:
        hoisted, bodies = [], []
        for n, s in enumerate(loose):
            includes, rest = split_includes(s)
            hoisted += includes
            body = s.located(rest)
            if s.kind == "fragment":
                body = "[[maybe_unused]] void run() {\n" + body + "}\n"
            bodies.append(f"namespace ctnn_docs::snippet_{n} {{\n{body}}}\n")
        source = PRELUDE + "\n".join(dict.fromkeys(hoisted)) + "\n" + GIVEN + "\n".join(bodies)
        ok, out, cmd = compile_unit(args, "fragments.cpp", source)
        for s in loose:
            lines = range(s.line + 1, s.line + 1 + len(s.lines))
            named = any(f"{s.doc}:{k}:" in out for k in lines)
            if ok or named:
                print(("ok    " if ok else "FAIL  ") + s.where() + f" ({s.kind})")
            else:
                print(f"?     {s.where()} ({s.kind}, in the file that failed)")
        if not ok:
            failures.append((loose[0], out, cmd))

    # Declarations with a main: at global scope, in a file of their own.
    for s in programs:
        includes, rest = split_includes(s)
        source = (PRELUDE + "\n".join(includes) + "\n" + GIVEN + "using namespace ctnn_docs;\n"
                  + s.located(rest))
        ok, out, cmd = compile_unit(args, stem(s.doc) + f"_{s.line}.cpp", source)
        print(("ok    " if ok else "FAIL  ") + s.where() + " (declarations with main)")
        if not ok:
            failures.append((s, out, cmd))

    for s in errors:
        includes, rest = split_includes(s)
        source = (PRELUDE + "\n".join(includes) + "\n" + GIVEN + "namespace ctnn_docs::error {\n"
                  + s.located(rest) + "}\n")
        ok, out, cmd = compile_unit(args, stem(s.doc) + f"_{s.line}_error.cpp", source,
                                    expect_failure=True)
        print(("ok    " if ok else "FAIL  ") + s.where() + " (error: does not compile)")
        if not ok:
            failures.append((s, "compiles, but is shown as a mistake that does not\n", cmd))

    for s in skipped:
        print(f"skip  {s.where()} (includes {', '.join(s.includes())})")
    print("snippets: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    for s, out, cmd in failures:
        print(f"\n{s.where()}: " + " ".join(cmd) + "\n" + out, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
