"""OCI image layouts on disk for the image converter's tests (`cloister image convert`).

Everything is built with the standard library (tarfile, gzip, hashlib, json) plus the `zstd`
command-line tool for zstd layers, so that the fixtures owe nothing to the C code under test.
The output is deterministic: fixed mtimes and `created` times, owners given explicitly (no user
name lookups), entries sorted by path, JSON written with sorted keys. The same call therefore
gives the same blobs, which is what lets the tests compare digests across conversions.

A layer is a list of entries made by the constructors below:

    dir(path, mode=0o755, uid=0, gid=0)          file(path, data, mode=0o644, uid=0, gid=0)
    symlink(path, target, uid=0, gid=0)          hardlink(path, target, mode=0o644, uid=0, gid=0)
    whiteout(path)      -> DIR/.wh.NAME          opaque(dirpath) -> DIRPATH/.wh..wh..opq
    device(path, major=1, minor=3)  (char)       fifo(path)
    raw(name, ...)      a member written exactly as named (`../escape`, `/etc/x`, ...)
    huge_pax(path, size)  a file whose pax header is `size` bytes and more

Paths of the friendly constructors are absolute (`/usr/bin/tool`) and are written the way
Docker writes them (`usr/bin/tool`, directories with a trailing `/`). Hard link targets are
written as given (`usr/bin/tool`), again as in Docker layers.

write_layout() writes an image (or an image index) into an OCI layout and returns an
OciLayout, which also reads layouts (the converter's output included) and can tamper with one
(rewrite_config, flip_blob_byte) for the refusal tests. rich_image() is the multi-layer image
the tests convert; tiny_layers() a one-layer image for quick cases.
"""

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

# 2024-01-01T00:00:00Z: nothing in a layer or config depends on when the test ran.
FIXED_MTIME = 1704067200
FIXED_CREATED = "2024-01-01T00:00:00Z"

OCI_LAYOUT_VERSION = "1.0.0"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = {
    "none": "application/vnd.docker.image.rootfs.diff.tar",
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
REF_NAME = "org.opencontainers.image.ref.name"

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


# --------------------------------------------------------------------------------------------
# layer entries


@dataclass(frozen=True)
class Entry:
    """One tar member. `name` is written exactly as given: the friendly constructors normalise
    it, raw() does not, which is how the malicious cases get their `../` and `/` names in."""
    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    pax: tuple = ()  # extra pax records, ((key, value), ...)

    def tarinfo(self):
        ti = tarfile.TarInfo(self.name)
        ti.type = self.type
        ti.size = len(self.data) if self.type == tarfile.REGTYPE else 0
        ti.mode = self.mode
        ti.uid, ti.gid = self.uid, self.gid
        ti.uname = ti.gname = ""  # numeric owners only: no dependence on this machine's users
        ti.mtime = FIXED_MTIME
        ti.linkname = self.linkname
        ti.devmajor, ti.devminor = self.devmajor, self.devminor
        ti.pax_headers = dict(self.pax)
        return ti

    @property
    def sort_key(self):
        """Path bytes without a trailing slash: a directory always sorts before its contents."""
        return self.name.rstrip("/").encode("utf-8", "surrogateescape")


def _member(path):
    """`/usr/bin/tool` -> `usr/bin/tool`, as Docker and most builders name members."""
    name = path.strip("/")
    if not name:
        raise ValueError(f"{path!r}: the root itself is not a layer entry")
    return name


def _split(path):
    parent, _, base = _member(path).rpartition("/")
    return parent, base


def dir(path, mode=0o755, uid=0, gid=0):  # noqa: A001 (the name the tests read best)
    return Entry(_member(path), tarfile.DIRTYPE, mode=mode, uid=uid, gid=gid)


def file(path, data, mode=0o644, uid=0, gid=0):
    if isinstance(data, str):
        data = data.encode()
    return Entry(_member(path), tarfile.REGTYPE, data=data, mode=mode, uid=uid, gid=gid)


def symlink(path, target, uid=0, gid=0):
    return Entry(_member(path), tarfile.SYMTYPE, mode=0o777, uid=uid, gid=gid, linkname=target)


def hardlink(path, target, mode=0o644, uid=0, gid=0):
    """A hard link; give it the target's mode and owner, as Docker does, so that extractors that
    apply the link header's metadata to the shared inode (or ignore it) agree."""
    return Entry(_member(path), tarfile.LNKTYPE, mode=mode, uid=uid, gid=gid, linkname=target)


def whiteout(path):
    """Deletes `path` (and everything below it) from the lower layers."""
    parent, base = _split(path)
    name = f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base
    return Entry(name, tarfile.REGTYPE, mode=0o644)


def opaque(dirpath):
    """Hides everything the lower layers put in `dirpath`; this layer's own entries stay."""
    return Entry(f"{_member(dirpath)}/{OPAQUE_MARKER}", tarfile.REGTYPE, mode=0o644)


def device(path, major=1, minor=3, mode=0o666):
    """A character device (1,3 is /dev/null)."""
    return Entry(_member(path), tarfile.CHRTYPE, mode=mode, devmajor=major, devminor=minor)


def fifo(path, mode=0o644):
    return Entry(_member(path), tarfile.FIFOTYPE, mode=mode)


def raw(name, data=b"", type=tarfile.REGTYPE, mode=0o644, uid=0, gid=0, linkname="",
        pax=()):  # noqa: A002
    """A member named exactly `name` (`../escape`, `/etc/x`, `./a//b`): for hostile layers."""
    return Entry(name, type, data=data, mode=mode, uid=uid, gid=gid, linkname=linkname,
                 pax=tuple(pax))


def huge_pax(path, size=(2 << 20) + 4096, data=b"x"):
    """A file whose pax extended header carries one record of `size` bytes (default just over
    2 MiB): a reader that holds pax headers in memory without a bound is what this catches."""
    return Entry(_member(path), tarfile.REGTYPE, data=data,
                 pax=(("CLOISTER.padding", "p" * size),))


class Layer(list):
    """A layer's entries. They are written sorted by path unless keep_order is set: sorting
    keeps fixtures deterministic whatever order the test lists them in, keep_order lets a
    hostile layer decide what a reader meets first."""

    def __init__(self, entries=(), keep_order=False):
        super().__init__(entries)
        self.keep_order = keep_order


def layer_tar(entries):
    """The uncompressed tar of one layer (its SHA-256 is the layer's diff_id)."""
    ordered = list(entries)
    if not getattr(entries, "keep_order", False):
        ordered.sort(key=lambda e: e.sort_key)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for e in ordered:
            tar.addfile(e.tarinfo(), io.BytesIO(e.data) if e.data else None)
    return buf.getvalue()


def compress(data, kind):
    """gzip with mtime 0 (Python writes no file name), or zstd through the CLI, which is
    deterministic for a given version and level."""
    if kind == "none":
        return data
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        if shutil.which("zstd") is None:
            raise RuntimeError("the zstd command is needed for zstd layers (apt-get install zstd)")
        return subprocess.run(["zstd", "-q", "-c", "-3", "--no-progress"], input=data,
                              capture_output=True, check=True).stdout
    raise ValueError(f"unknown compression {kind!r}: gzip, zstd or none")


def decompress(data):
    """Undoes compress(), told by the magic number, as the converter is expected to."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-q", "-d", "-c"], input=data, capture_output=True,
                              check=True).stdout
    return data


# --------------------------------------------------------------------------------------------
# layouts


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def json_bytes(obj):
    """Stable JSON for blobs: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def image_config(config, diff_ids, architecture="amd64", os_name="linux"):
    """A full image config around the container `config` member (Entrypoint, Cmd, Env, ...)."""
    return {
        "created": FIXED_CREATED,
        "architecture": architecture,
        "os": os_name,
        "config": dict(config or {}),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": FIXED_CREATED, "created_by": f"oci_fixtures: layer {i + 1}"}
                    for i in range(len(diff_ids))],
    }


class OciLayout:
    """An OCI image layout directory: writes blobs and tags, reads images back, and tampers
    with them for the refusal tests."""

    def __init__(self, path):
        self.path = Path(path)

    # -- reading

    @property
    def index_path(self):
        return self.path / "index.json"

    def index(self):
        return json.loads(self.index_path.read_text())

    def tags(self):
        return [d.get("annotations", {}).get(REF_NAME) for d in self.index()["manifests"]]

    def descriptor(self, tag="latest"):
        found = [d for d in self.index()["manifests"]
                 if d.get("annotations", {}).get(REF_NAME) == tag]
        if len(found) != 1:
            raise KeyError(f"{self.path}: {len(found)} descriptors tagged {tag!r}")
        return found[0]

    def blob_path(self, digest):
        algo, hexdigest = digest.split(":", 1)
        return self.path / "blobs" / algo / hexdigest

    def blob(self, digest):
        return self.blob_path(digest).read_bytes()

    def json_blob(self, digest):
        return json.loads(self.blob(digest))

    def manifest(self, tag="latest", platform="linux/amd64"):
        """(descriptor, manifest) of the image the tag names, through an index if it is one."""
        desc = self.descriptor(tag)
        while desc["mediaType"] == OCI_INDEX:
            desc = _pick_platform(self.json_blob(desc["digest"])["manifests"], platform)
        return desc, self.json_blob(desc["digest"])

    def config(self, tag="latest", platform="linux/amd64"):
        _, manifest = self.manifest(tag, platform)
        return self.json_blob(manifest["config"]["digest"])

    def layer_tar(self, layer_desc):
        return decompress(self.blob(layer_desc["digest"]))

    def files(self):
        """{relative path: bytes} of everything in the layout: for "nothing changed" checks."""
        return {str(p.relative_to(self.path)): p.read_bytes()
                for p in sorted(self.path.rglob("*")) if p.is_file()}

    # -- writing

    def init(self):
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.path / "oci-layout").write_bytes(json_bytes({"imageLayoutVersion":
                                                           OCI_LAYOUT_VERSION}))
        if not self.index_path.exists():
            self._write_index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        return self

    def put_blob(self, data, media_type):
        """Stores data under its digest and returns its descriptor."""
        digest = "sha256:" + sha256_hex(data)
        path = self.blob_path(digest)
        if not path.exists():
            path.write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def set_tag(self, tag, desc):
        """Points tag at desc, replacing what it named before and keeping every other tag."""
        index = self.index()
        index["manifests"] = [d for d in index["manifests"]
                              if d.get("annotations", {}).get(REF_NAME) != tag]
        desc = dict(desc)
        desc["annotations"] = {**desc.get("annotations", {}), REF_NAME: tag}
        index["manifests"].append(desc)
        self._write_index(index)

    def _write_index(self, index):
        self.index_path.write_bytes(json_bytes(index))

    # -- tampering

    def rewrite_config(self, edit, tag="latest"):
        """Applies edit(config) and rewrites the config blob, the manifest and the tag so that
        every digest is right again: only what edit changed is wrong."""
        desc, manifest = self.manifest(tag)
        config = self.json_blob(manifest["config"]["digest"])
        edit(config)
        manifest["config"] = self.put_blob(json_bytes(config), manifest["config"]["mediaType"])
        new_desc = self.put_blob(json_bytes(manifest), desc["mediaType"])
        self.set_tag(tag, new_desc)
        return config

    def flip_blob_byte(self, digest, offset):
        """Corrupts a blob in place: its name no longer matches its content."""
        path = self.blob_path(digest)
        data = bytearray(path.read_bytes())
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))


def _pick_platform(descriptors, platform):
    os_name, arch = platform.split("/", 1)
    for d in descriptors:
        p = d.get("platform", {})
        if p.get("os") == os_name and p.get("architecture") == arch:
            return d
    raise KeyError(f"no {platform} image in the index")


def _per_layer(compression, count):
    if isinstance(compression, str):
        return [compression] * count
    if len(compression) != count:
        raise ValueError(f"{len(compression)} compressions for {count} layers")
    return list(compression)


def write_image(layout, layers, config, compression="gzip", docker_media_types=False,
                architecture="amd64"):
    """Writes the layer, config and manifest blobs of one image; returns the manifest's
    descriptor (with its platform, for use in an index)."""
    types = DOCKER_LAYER if docker_media_types else OCI_LAYER
    layer_descs, diff_ids = [], []
    for entries, kind in zip(layers, _per_layer(compression, len(layers))):
        if kind not in types:
            raise ValueError(f"no {'Docker' if docker_media_types else 'OCI'} media type for "
                             f"{kind} layers")
        tar = layer_tar(entries)
        diff_ids.append("sha256:" + sha256_hex(tar))
        layer_descs.append(layout.put_blob(compress(tar, kind), types[kind]))
    cfg = image_config(config, diff_ids, architecture)
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker_media_types else OCI_MANIFEST,
        "config": layout.put_blob(json_bytes(cfg),
                                  DOCKER_CONFIG if docker_media_types else OCI_CONFIG),
        "layers": layer_descs,
    }
    desc = layout.put_blob(json_bytes(manifest), manifest["mediaType"])
    desc["platform"] = {"architecture": architecture, "os": "linux"}
    return desc


def write_layout(path, layers, config=None, tag="latest", compression="gzip",
                 docker_media_types=False, index_platforms=None):
    """Writes an image into the OCI layout at path (created if missing; other tags kept) and
    tags it. compression: "gzip", "zstd", "none", or one of those per layer.

    index_platforms: the tag names an image index instead, listing one manifest per item, in
    order. An item is "os/arch" (this call's layers and config built for that architecture) or
    ("os/arch", layers, config) for a different image."""
    layout = OciLayout(path).init()
    if index_platforms is None:
        desc = write_image(layout, layers, config, compression, docker_media_types)
        del desc["platform"]
    else:
        desc = _write_index_image(layout, layers, config, compression, docker_media_types,
                                  index_platforms)
    layout.set_tag(tag, desc)
    return layout


def _write_index_image(layout, layers, config, compression, docker_media_types, platforms):
    manifests = []
    for item in platforms:
        if isinstance(item, str):
            platform, item_layers, item_config = item, layers, config
        else:
            platform, item_layers, item_config = item
        os_name, arch = platform.split("/", 1)
        if os_name != "linux":
            raise ValueError("only linux images are built here")
        manifests.append(write_image(layout, item_layers, item_config, compression,
                                     docker_media_types, arch))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
    return layout.put_blob(json_bytes(index), OCI_INDEX)


# --------------------------------------------------------------------------------------------
# ready-made images


TOOL_BINARY = b"\x7fELF-not-really: the tool\n"
MOTD_OLD = b"welcome to layer 1\n"
MOTD_NEW = b"welcome to layer 2\n"
SERVER_PY = b"print('serving')\n"
UTF8_NAME = "/app/donn\u00e9es \u00e9.txt"
UTF8_DATA = "donn\u00e9es\n".encode()

RICH_CONFIG = {
    "User": "app",
    "Entrypoint": ["/usr/bin/tool"],
    "Cmd": ["--serve"],
    "Env": ["PATH=/usr/bin:/bin", "GREETING=hi"],
    "WorkingDir": "/app",
    "ExposedPorts": {"8443/tcp": {}},
    "Labels": {"org.example.team": "blue"},
}

# What a runtime sees once the three layers are applied (checked with umoci by the tests).
RICH_GONE = ("/var/old", "/opt/data/a", "/opt/data/b", "/opt/data/c")
RICH_PRESENT = ("/opt/data/new", "/usr/bin/tool2", "/app/server.py", UTF8_NAME, "/var")


def _rootfs_layer():
    """Layer 1: a small root file system with a non-root user."""
    return Layer([
        dir("/bin"), dir("/etc"), dir("/usr"), dir("/usr/bin"), dir("/usr/lib"),
        dir("/opt"), dir("/opt/data"), dir("/var"), dir("/home"),
        dir("/home/app", mode=0o700, uid=1000, gid=1000),
        file("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                            b"app:x:1000:1000:app:/home/app:/bin/sh\n"),
        file("/etc/group", b"root:x:0:\napp:x:1000:\n"),
        file("/etc/motd", MOTD_OLD),
        file("/usr/bin/tool", TOOL_BINARY, mode=0o4755),
        file("/usr/lib/libx.so.1", b"library one\n", mode=0o755),
        symlink("/usr/lib/libx.so", "libx.so.1"),
        symlink("/usr/bin/python", "/usr/bin/tool"),
        file("/opt/data/a", b"a\n"), file("/opt/data/b", b"b\n"), file("/opt/data/c", b"c\n"),
        file("/var/old", b"to be deleted\n"),
        file("/home/app/.profile", b"export X=1\n", uid=1000, gid=1000),
    ])


def _changes_layer():
    """Layer 2: a whiteout, an opaque directory, a hard link into layer 1, a changed file."""
    return Layer([
        dir("/var"), whiteout("/var/old"),
        dir("/opt"), dir("/opt/data"), opaque("/opt/data"), file("/opt/data/new", b"new\n"),
        dir("/usr"), dir("/usr/bin"),
        hardlink("/usr/bin/tool2", "usr/bin/tool", mode=0o4755),
        dir("/etc"), file("/etc/motd", MOTD_NEW),
    ])


def _app_layer():
    """Layer 3 (zstd in rich_image): the application, owned by the app user."""
    return Layer([
        dir("/app", uid=1000, gid=1000),
        file("/app/server.py", SERVER_PY, uid=1000, gid=1000),
        file(UTF8_NAME, UTF8_DATA, uid=1000, gid=1000),
    ])


def rich_layers():
    return [_rootfs_layer(), _changes_layer(), _app_layer()]


def rich_image(path, tag="latest", compression=("gzip", "gzip", "zstd"), **kwargs):
    """The multi-layer image with whiteouts, an opaque directory, symlinks (relative and
    absolute), a hard link across layers, a setuid file, a UTF-8 file name and a non-root
    user; layer 3 is zstd unless told otherwise (Docker media types have no zstd)."""
    return write_layout(path, rich_layers(), RICH_CONFIG, tag=tag, compression=compression,
                        **kwargs)


def tiny_layers(marker="amd64", extra=()):
    """One small layer: /bin/marker (content names the image) and /etc/passwd; extra entries
    are appended (hostile cases add theirs here)."""
    return [Layer([
        dir("/bin"), dir("/etc"),
        file("/bin/marker", f"marker {marker}\n".encode(), mode=0o755),
        file("/etc/passwd", b"root:x:0:0:root:/:/bin/marker\n"),
        *extra,
    ])]


def tiny_config(marker="amd64"):
    return {"Entrypoint": ["/bin/marker"], "Cmd": [marker], "Env": ["PATH=/bin"],
            "WorkingDir": "/", "Labels": {"org.example.image": marker}}


def tiny_image(path, tag="latest", marker="amd64", extra_layers=(), **kwargs):
    """tiny_layers(marker) plus any further layers, as one image."""
    return write_layout(path, tiny_layers(marker) + list(extra_layers), tiny_config(marker),
                        tag=tag, **kwargs)


if __name__ == "__main__":  # pragma: no cover - handy for looking at a fixture by hand
    import sys
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "rich-layout")
    rich_image(out)
    print(out, OciLayout(out).descriptor()["digest"])
