#!/usr/bin/env python
"""Download the standard pix2pix and CycleGAN datasets into the layouts gantool reads (for users online).

    python datasets/download.py facades --out data/
    python datasets/download.py edges2shoes night2day maps --out data/
    python datasets/download.py horse2zebra summer2winter_yosemite monet2photo --out data/

A pix2pix archive unpacks to data/<name>/{train,val,test}/ of side-by-side A|B JPEGs (the pix2pix
aligned format), e.g. `gantool train pix2pix --data data/facades/train --direction BtoA`.
A CycleGAN archive unpacks to data/<name>/{trainA,trainB,testA,testB}/ (the unpaired layout),
e.g. `gantool train cyclegan --data data/horse2zebra`; the CycleGAN versions of facades, maps and
cityscapes are named cyclegan_facades, cyclegan_maps and cyclegan_cityscapes here.
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
import zipfile
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
CYCLEGAN_BASE = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets"
# our name -> the archive's name on the CycleGAN server
CYCLEGAN_ARCHIVES = {
    "horse2zebra": "horse2zebra", "apple2orange": "apple2orange", "summer2winter_yosemite": "summer2winter_yosemite",
    "monet2photo": "monet2photo", "cezanne2photo": "cezanne2photo", "ukiyoe2photo": "ukiyoe2photo",
    "vangogh2photo": "vangogh2photo", "iphone2dslr_flower": "iphone2dslr_flower",
    "cyclegan_facades": "facades", "cyclegan_maps": "maps", "cyclegan_cityscapes": "cityscapes",
}
DATASETS.update({name: (f"{CYCLEGAN_BASE}/{archive}.zip", None) for name, archive in CYCLEGAN_ARCHIVES.items()})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inside(out: Path, name: str) -> None:
    target = (out / name).resolve()
    root = out.resolve()
    if root not in target.parents and target != root:
        raise RuntimeError(f"refusing to extract {name!r}: it points outside {out}")


def safe_extract(archive: Path, out: Path) -> None:
    """Extract a .tar.gz or .zip without letting member paths escape `out` (no absolute paths, no '..')."""
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                _inside(out, name)
            zf.extractall(out)
        return
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            _inside(out, member.name)
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
        archive = Path(tmp) / url.rsplit("/", 1)[-1]
        print(f"downloading {url}")
        with urllib.request.urlopen(url) as response, archive.open("wb") as f:
            shutil.copyfileobj(response, f)
        digest = sha256(archive)
        if expected and digest != expected:
            raise RuntimeError(f"{name}: checksum mismatch (got {digest}, expected {expected}); download deleted")
        if not expected:
            print(f"{name}: sha256 {digest} (no recorded checksum to compare)")
        unpacked = Path(tmp) / "unpacked"
        safe_extract(archive, unpacked)
        folders = [p for p in unpacked.iterdir() if p.is_dir()]
        if len(folders) != 1:
            raise RuntimeError(f"{name}: expected one folder in the archive, found {len(folders)}")
        folders[0].rename(out / name)  # under our name: cyclegan_facades never mixes with facades
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
