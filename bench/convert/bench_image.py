"""The image bench/convert/run converts: an OCI layout of 692 MB of uncompressed tar (350 MB
stored) in five gzip layers, shaped like an application image (a distribution base, a language
runtime, its packages, a model, the app), 29,231 tar entries. Deterministic: one GENERATOR_VERSION
with one Python and one gzip gives the same blobs byte for byte (fixed seeds, fixed mtimes,
numeric owners, `gzip -n`).

Content comes in four classes, so that inflate sees what it sees in real images:
  text   words from a skewed vocabulary in indented lines, a quarter of them repeated from just
         above (source, docs, config): gzip -6 ~4:1
  bin    executable-like: short runs copied from nearby (as code repeats), zero padding, strings,
         and bytes from a skewed distribution: gzip -6 ~2.6:1
  float  model weights: random low bytes, high bytes from a few values: gzip -6 ~1.25:1
  rand   already compressed (.gz, .png, wheels): incompressible

A layer's tar is streamed into `gzip -6 -n` while it is hashed (its diff_id); two layers are made
at a time. Tags: `bench` (all five layers) and `large-files` (the model layer alone: few entries,
many bytes; bench/convert/run compares the converter's memory on both)."""

import hashlib
import io
import math
import multiprocessing
import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "integration"))

import oci_fixtures as fx  # noqa: E402

GENERATOR_VERSION = 1  # bump when anything below changes what the image contains
TAG = "bench"
LARGE_FILES_TAG = "large-files"
MiB = 1 << 20

# ------------------------------------------------------------------------------------------
# content


class Pools:
    """Byte pools the files are cut from (built once, before the workers fork)."""

    def __init__(self):
        rng = random.Random(20240101)
        letters = "abcdefghijklmnopqrstuvwxyz"
        vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 11)))
                 for _ in range(3000)]
        vocab += ["def", "return", "self", "import", "from", "if", "else", "for", "in", "=",
                  "(", ")", "{", "}", "None", "True", "the", "a", "of", "to", "and", "is"]
        weights = [1.0 / (i + 1) for i in range(len(vocab))]
        rng.shuffle(weights)
        words = rng.choices(vocab, weights=weights, k=1_500_000)
        lines, i = [], 0
        while i < len(words):
            if len(lines) > 40 and rng.random() < 0.25:  # code and prose repeat themselves
                lines.append(lines[-rng.randint(1, 40)])
                continue
            n = rng.randint(2, 12)
            lines.append(" " * (4 * rng.randint(0, 3)) + " ".join(words[i:i + n]))
            i += n
        self.text = ("\n".join(lines) + "\n").encode()
        self.bin = self._binary(rng, 16 * MiB)
        # float16-like: even bytes random, odd bytes (sign + exponent) from a few values
        f = bytearray(rng.randbytes(16 * MiB))
        table = bytes([0x3c, 0x38, 0xb8, 0xbc, 0x34, 0xb4, 0x30, 0xb0][b & 7] for b in range(256))
        f[1::2] = f[1::2].translate(table)
        self.float = bytes(f)

    def _binary(self, rng, size):
        common = [0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x85, 0x84, 0x24, 0x83, 0xc4, 0x41, 0x4c, 0x8d,
                  0x05, 0x74, 0xeb]
        values = [0x00] * 40 + [0xff] * 8 + common * 6 + list(range(256))
        skew = bytes(values[b * len(values) // 256] for b in range(256))
        out = bytearray()
        while len(out) < size:
            n = rng.randint(16, 400)
            kind = rng.random()
            if kind < 0.40 and len(out) > 16384:
                start = len(out) - rng.randint(n, 16384)
                out += out[start:start + n]
            elif kind < 0.52:
                out += bytes(n)
            elif kind < 0.65:
                o = rng.randrange(len(self.text) - n)
                out += self.text[o:o + n]
            else:
                out += rng.randbytes(n).translate(skew)
        return bytes(out[:size])

    def content(self, rng, kind, size):
        if kind == "rand":
            return rng.randbytes(size)
        pool = getattr(self, kind)
        if size <= len(pool) // 2:
            o = rng.randrange(len(pool) - size)
            return pool[o:o + size]
        parts, left = [], size
        while left > 0:
            n = min(left, MiB)
            o = rng.randrange(len(pool) - n)
            parts.append(pool[o:o + n])
            left -= n
        return b"".join(parts)


POOLS = None

# ------------------------------------------------------------------------------------------
# layers: lists of (path, kind, size, content class, mode, link target)


def lognormal(rng, median, sigma, lo, hi):
    return int(min(hi, max(lo, rng.lognormvariate(math.log(median), sigma))))


def name(rng, n=2):
    return "-".join(
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8)))
        for _ in range(n))


def base_layer(rng):
    f = []
    for i in range(400):
        f.append((f"/etc/{name(rng, 1)}{i}.conf", "file", lognormal(rng, 900, 1.0, 40, 40000),
                  "text", 0o644, None))
    for i in range(600):
        f.append((f"/usr/bin/{name(rng, 1)}{i}", "file", lognormal(rng, 40000, 1.2, 2000,
                                                                   3 * MiB), "bin", 0o755, None))
    for i in range(20):  # busybox-style hard links
        f.append((f"/usr/bin/link{i}", "hardlink", 0, None, 0o755, f"/usr/bin/{f[400 + i][0][9:]}"))
    for i in range(300):
        lib = f"lib{name(rng, 1)}{i}.so"
        f.append((f"/usr/lib/x86_64-linux-gnu/{lib}.1.2.3", "file",
                  lognormal(rng, 80000, 1.3, 8000, 12 * MiB), "bin", 0o644, None))
        f.append((f"/usr/lib/x86_64-linux-gnu/{lib}.1", "symlink", 0, None, 0o777,
                  f"{lib}.1.2.3"))
    for i in range(350):
        pkg = f"/usr/share/doc/{name(rng)}{i}"
        f.append((f"{pkg}/copyright", "file", lognormal(rng, 4000, 1.0, 300, 60000), "text",
                  0o644, None))
        f.append((f"{pkg}/changelog.Debian.gz", "file", lognormal(rng, 3000, 1.0, 200, 40000),
                  "rand", 0o644, None))
    for i in range(2000):
        f.append((f"/usr/share/locale/{name(rng, 1)[:2]}/LC_MESSAGES/{name(rng, 1)}{i}.mo", "file",
                  lognormal(rng, 4000, 1.2, 300, 300000), "bin", 0o644, None))
    for i in range(1800):
        f.append((f"/usr/share/zoneinfo/{name(rng, 1).title()}/{name(rng, 1).title()}{i}", "file",
                  lognormal(rng, 1200, 0.6, 100, 8000), "bin", 0o644, None))
    for i in range(2500):
        f.append((f"/usr/share/man/man{1 + i % 8}/{name(rng, 1)}{i}.{1 + i % 8}.gz", "file",
                  lognormal(rng, 2500, 0.8, 200, 40000), "rand", 0o644, None))
    return f


def runtime_layer(rng):
    f = [("/usr/local/bin/python3.11", "file", 16 * MiB, "bin", 0o755, None),
         ("/usr/local/bin/python3", "symlink", 0, None, 0o777, "python3.11"),
         ("/usr/local/lib/libpython3.11.so.1.0", "file", 24 * MiB, "bin", 0o755, None)]
    root = "/usr/local/lib/python3.11"
    mods = [f"{root}/{name(rng, 1)}{i}" for i in range(120)]
    for i in range(3400):
        d = mods[rng.randrange(len(mods))]
        mod = f"{name(rng, 1)}{i}"
        size = lognormal(rng, 7000, 1.2, 100, 400000)
        f.append((f"{d}/{mod}.py", "file", size, "text", 0o644, None))
        f.append((f"{d}/__pycache__/{mod}.cpython-311.pyc", "file", int(size * 0.9) + 200, "bin",
                  0o644, None))
    for i in range(70):
        f.append((f"{root}/lib-dynload/_{name(rng, 1)}{i}.cpython-311-x86_64-linux-gnu.so",
                  "file", lognormal(rng, 150000, 1.0, 15000, 3 * MiB), "bin", 0o755, None))
    for i in range(400):
        f.append((f"{root}/test/data/{name(rng, 1)}{i}.bin", "file",
                  lognormal(rng, 5000, 1.5, 10, 500000), "rand", 0o644, None))
    return f


def packages_layer(rng):
    f = []
    site = "/usr/local/lib/python3.11/site-packages"
    for p in range(30):
        pkg = f"{site}/{name(rng, 1)}{p}"
        for i in range(rng.randint(30, 180)):
            size = lognormal(rng, 9000, 1.2, 100, 500000)
            f.append((f"{pkg}/{name(rng, 1)}{i}.py", "file", size, "text", 0o644, None))
            f.append((f"{pkg}/__pycache__/{name(rng, 1)}{i}.cpython-311.pyc", "file",
                      int(size * 0.9) + 200, "bin", 0o644, None))
        for i in range(rng.randint(0, 2)):
            f.append((f"{pkg}/_{name(rng, 1)}{i}.cpython-311-x86_64-linux-gnu.so", "file",
                      lognormal(rng, MiB, 1.0, 100000, 20 * MiB), "bin", 0o755, None))
        for i in range(rng.randint(0, 20)):
            f.append((f"{pkg}/data/{name(rng, 1)}{i}.json", "file",
                      lognormal(rng, 10000, 1.5, 100, 4 * MiB), "text", 0o644, None))
            f.append((f"{pkg}/data/{name(rng, 1)}{i}.png", "file",
                      lognormal(rng, 30000, 1.2, 500, 2 * MiB), "rand", 0o644, None))
        f.append((f"{site}/{name(rng, 1)}{p}.dist-info/RECORD", "file",
                  lognormal(rng, 8000, 0.5, 500, 60000), "text", 0o644, None))
    return f


def model_layer(rng):
    return [("/models/encoder/weights.bin", "file", 64 * MiB, "float", 0o644, None),
            ("/models/decoder/weights.bin", "file", 56 * MiB, "float", 0o644, None),
            ("/models/tokenizer.json", "file", 9 * MiB, "text", 0o644, None),
            ("/models/vocab.txt", "file", 3 * MiB, "text", 0o644, None),
            ("/models/assets.tar.gz", "file", 30 * MiB, "rand", 0o644, None),
            ("/models/config.json", "file", 4000, "text", 0o644, None),
            ("/models/README.md", "file", 12000, "text", 0o644, None)]


def app_layer(rng, base):
    f = []
    for i in range(1200):
        f.append((f"/app/src/{name(rng, 1)}/{name(rng, 1)}{i}.py", "file",
                  lognormal(rng, 4000, 1.0, 50, 100000), "text", 0o644, None))
    for i in range(300):
        f.append((f"/app/static/{name(rng, 1)}{i}.{rng.choice(['png', 'woff2', 'js'])}", "file",
                  lognormal(rng, 15000, 1.2, 200, 2 * MiB), "rand" if i % 3 < 2 else "text",
                  0o644, None))
    f.append(("/app/run.sh", "file", 600, "text", 0o755, None))
    # changes to the base: deletions (whiteouts), a replaced config, a directory emptied
    for path, *_ in base[:40:4]:
        f.append((path, "whiteout", 0, None, 0o644, None))
    f.append(("/etc/" + base[1][0][5:], "file", 2000, "text", 0o600, None))
    f.append(("/usr/share/doc", "opaque", 0, None, 0o644, None))
    return f


def layers():
    """The five layers' file lists, from fixed seeds."""
    base = base_layer(random.Random(1))
    return [("base", base), ("runtime", runtime_layer(random.Random(2))),
            ("packages", packages_layer(random.Random(3))),
            ("model", model_layer(random.Random(4))), ("app", app_layer(random.Random(5), base))]


# ------------------------------------------------------------------------------------------
# tar + gzip


def _tarinfo(member, kind, size=0, mode=0o644, link=None):
    ti = tarfile.TarInfo(member)
    ti.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
               "hardlink": tarfile.LNKTYPE}[kind]
    ti.size = size
    ti.mode = mode
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mtime = fx.FIXED_MTIME
    ti.linkname = link or ""
    return ti


class _HashingPipe(io.RawIOBase):
    def __init__(self, out):
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        self.sha.update(b)
        self.size += len(b)
        self.out.write(b)
        return len(b)


def write_layer(args):
    """One layer's tar through `gzip -6 -n` into blobs/sha256/.tmp-N; returns its digests."""
    index, files, blobs = args
    rng = random.Random(1000 + index)
    entries, dirs = [], set()
    for path, kind, size, cls, mode, link in files:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
        if kind == "whiteout":
            member = "/".join(parts[:-1] + [".wh." + parts[-1]])
        elif kind == "opaque":
            member = "/".join(parts + [".wh..wh..opq"])
            dirs.add("/".join(parts))
        else:
            member = "/".join(parts)
        entries.append((member, kind, size, cls, mode, link))
    entries += [(d, "dir", 0, None, 0o755, None) for d in dirs]
    entries.sort(key=lambda e: (e[1] == "hardlink", e[0]))  # a hard link after its target
    tmp = blobs / f".tmp-{index}"
    with open(tmp, "wb") as out:
        gz = subprocess.Popen(["gzip", "-6", "-n", "-c"], stdin=subprocess.PIPE, stdout=out,
                              bufsize=MiB)
        pipe = _HashingPipe(gz.stdin)
        count = 0
        with tarfile.open(fileobj=pipe, mode="w|", format=tarfile.PAX_FORMAT,
                          bufsize=MiB) as tar:
            for member, kind, size, cls, mode, link in entries:
                if kind in ("whiteout", "opaque"):
                    tar.addfile(_tarinfo(member, "file", 0, mode))
                elif kind == "file":
                    data = POOLS.content(rng, cls, size)
                    tar.addfile(_tarinfo(member, "file", size, mode), io.BytesIO(data))
                elif kind == "hardlink":
                    tar.addfile(_tarinfo(member, kind, 0, mode, link.strip("/")))
                else:
                    tar.addfile(_tarinfo(member, kind, 0, mode, link))
                count += 1
        gz.stdin.close()
        if gz.wait() != 0:
            raise RuntimeError("gzip failed")
    sha = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(4 * MiB):
            sha.update(chunk)
    digest = "sha256:" + sha.hexdigest()
    os.replace(tmp, blobs / sha.hexdigest())
    return {"index": index, "digest": digest, "size": tmp.parent.joinpath(sha.hexdigest())
            .stat().st_size, "diff_id": "sha256:" + pipe.sha.hexdigest(),
            "uncompressed": pipe.size, "entries": count}


def build(path, jobs=2):
    """Writes the layout at path (which must not exist) and returns a summary dict."""
    global POOLS
    path = Path(path)
    layout = fx.OciLayout(path).init()
    blobs = path / "blobs" / "sha256"
    POOLS = Pools()
    specs = layers()
    work = [(i, files, blobs) for i, (_, files) in enumerate(specs)]
    # biggest first, so that the two workers finish together
    work.sort(key=lambda w: -sum(f[2] for f in w[1]))
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        done = sorted(pool.map(write_layer, work, chunksize=1), key=lambda d: d["index"])
    config = {"Entrypoint": ["/usr/local/bin/python3"], "Cmd": ["/app/run.sh"],
              "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
              "WorkingDir": "/app"}

    def tag(tag_name, which):
        cfg = fx.image_config(config, [done[i]["diff_id"] for i in which])
        manifest = {"schemaVersion": 2, "mediaType": fx.OCI_MANIFEST,
                    "config": layout.put_blob(fx.json_bytes(cfg), fx.OCI_CONFIG),
                    "layers": [{"mediaType": fx.OCI_LAYER["gzip"], "digest": done[i]["digest"],
                                "size": done[i]["size"]} for i in which]}
        layout.set_tag(tag_name, layout.put_blob(fx.json_bytes(manifest), fx.OCI_MANIFEST))

    tag(TAG, range(len(done)))
    tag(LARGE_FILES_TAG, [3])
    return {"layers": [dict(d, name=specs[d["index"]][0]) for d in done]}


if __name__ == "__main__":
    import json
    import time
    t = time.monotonic()
    out = Path(sys.argv[1])
    if out.exists():
        sys.exit(f"{out} exists: give a new directory")
    print(json.dumps(build(out), indent=1))
    print(f"{time.monotonic() - t:.1f} s", file=sys.stderr)
