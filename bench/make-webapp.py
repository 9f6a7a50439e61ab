#!/usr/bin/env python3
"""Writes a deterministic, realistic web build for the zip benchmark: about 300 files and
110 MB, mostly compressible JS/CSS/HTML plus incompressible images and fonts. The same
seed always gives the same bytes.

    bench/make-webapp.py OUT_DIR
"""
import os
import random
import sys

WORDS = ("const let var function return if else for while import export from default "
         "class extends new this await async try catch throw null undefined true false "
         "props state render useState useEffect component element document window "
         "addEventListener querySelector map filter reduce forEach length push Promise "
         "resolve reject then fetch json headers body status error message value key").split()


def js(rng, size):
    out, n = [], 0
    while n < size:
        depth = rng.randint(0, 4)
        line = "  " * depth + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
        line += rng.choice([";", " {", " }", ",", "();", " => {"]) + " // " + str(rng.randint(0, 99999)) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def css(rng, size):
    out, n = [], 0
    while n < size:
        rule = ".c%x-%s { margin: %dpx; padding: %dpx %dpx; color: #%06x; display: %s; }\n" % (
            rng.randint(0, 0xFFFF), rng.choice(WORDS), rng.randint(0, 40), rng.randint(0, 20),
            rng.randint(0, 20), rng.randint(0, 0xFFFFFF), rng.choice(["flex", "block", "grid", "none"]))
        out.append(rule)
        n += len(rule)
    return "".join(out).encode()[:size]


def blob(rng, size):
    return rng.randbytes(size)


def main(out):
    rng = random.Random(20261127)
    files = []
    files.append(("index.html", b"<!doctype html><html><head><link rel=stylesheet href=assets/css/app-0.css></head>"
                  b"<body><div id=app></div><script type=module src=assets/js/app-0.js></script></body></html>"))
    files.append(("assets/js/app-0.js", b"import { CapacitorUpdater } from '@capgo/capacitor-updater';\n"
                  b"CapacitorUpdater.notifyAppReady();\n" + js(rng, 400_000)))
    for i in range(1, 200):
        files.append((f"assets/js/chunk-{i:03d}.js", js(rng, rng.randint(150_000, 550_000))))
    for i in range(40):
        files.append((f"assets/css/app-{i}.css", css(rng, rng.randint(50_000, 150_000))))
    for i in range(19):
        files.append((f"pages/page-{i:02d}.html", js(rng, rng.randint(20_000, 80_000))))
    for i in range(30):
        files.append((f"assets/img/photo-{i:02d}.jpg", blob(rng, rng.randint(500_000, 1_500_000))))
    for i in range(10):
        files.append((f"assets/fonts/font-{i}.woff2", blob(rng, rng.randint(300_000, 700_000))))
    total = 0
    for name, data in files:
        path = os.path.join(out, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        total += len(data)
    print(f"{len(files)} files, {total / 1e6:.1f} MB in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "webapp")
