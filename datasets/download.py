#!/usr/bin/env python
"""Download the standard pix2pix datasets into the layout gantool reads (for users online).

    python datasets/download.py facades --out data/
    python datasets/download.py edges2shoes night2day maps --out data/

Each archive unpacks to data/<name>/{train,val,test}/ of side-by-side A|B JPEGs (the pix2pix
aligned format), e.g. `gantool train pix2pix --data data/facades/train --direction BtoA`.
Archives are checked against the SHA-256 recorded below when one is recorded; a mismatch deletes
the download. Nothing here runs in tests: they use the copies in ../shared/data.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

BASE = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets"
# name -> (url, sha256 or None when we have not recorded one yet)
DATASETS: dict[str, tuple[str, str | None]] = {
    "facades": (f"{BASE}/facades.tar.gz", None),
    "cityscapes": (f"{BASE}/cityscapes.tar.gz", None),
    "maps": (f"{BASE}/maps.tar.gz", None),
    "edges2shoes": (f"{BASE}/edges2shoes.tar.gz", None),
    "edges2handbags": (f"{BASE}/edges2handbags.tar.gz", None),
    "night2day": (f"{BASE}/night2day.tar.gz", None),
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_extract(archive: Path, out: Path) -> None:
    """Extract without letting member paths escape `out` (no absolute paths, no '..')."""
    root = out.resolve()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            target = (out / member.name).resolve()
            if root not in target.parents and target != root:
                raise RuntimeError(f"refusing to extract {member.name!r}: it points outside {out}")
            if member.issym() or member.islnk():
                raise RuntimeError(f"refusing to extract link {member.name!r}")
        tar.extractall(out)


def download(name: str, out: Path) -> Path:
    url, expected = DATASETS[name]
    out.mkdir(parents=True, exist_ok=True)
    if (out / name).is_dir():
        print(f"{out / name} exists; skipping")
        return out / name
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        archive = Path(tmp) / f"{name}.tar.gz"
        print(f"downloading {url}")
        with urllib.request.urlopen(url) as response, archive.open("wb") as f:
            shutil.copyfileobj(response, f)
        digest = sha256(archive)
        if expected and digest != expected:
            raise RuntimeError(f"{name}: checksum mismatch (got {digest}, expected {expected}); download deleted")
        if not expected:
            print(f"{name}: sha256 {digest} (no recorded checksum to compare)")
        safe_extract(archive, out)
    print(f"ready: {out / name}")
    return out / name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", choices=sorted(DATASETS))
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args()
    for name in args.names:
        try:
            download(name, args.out)
        except Exception as err:  # noqa: BLE001  (a script for people: one line per failure)
            print(f"error: {name}: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
