"""What a data folder holds and what training would skip or fail on, before any training starts.

The checks follow the readers (`find_pairs`, `match_by_name`, `domain_folders`, `ClassFolders`):
the same layout precedence, the same scanner, the same pairing rule, so that "ok" here means the
training data loaders accept the folder. Files are only opened for reading; nothing is written.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from gantool.data.images import FolderScan, list_images, scan_folder
from gantool.data.paired import files_by_name, pair_key, side_by_side_doubt
from gantool.data.unpaired import DOMAIN_LAYOUTS
from gantool.errors import GantoolError
from gantool.safe_paths import what_is

# How load_image turns each Pillow mode into the 8-bit L or RGB array the networks see.
CONVERSIONS = {
    "RGB": "used as is (converted to luma gray for 1-channel models)",
    "L": "grayscale: repeated to RGB for 3-channel models",
    "1": "black and white: read as grayscale",
    "LA": "grayscale + alpha: composited on white",
    "RGBA": "alpha composited on white",
    "PA": "palette + alpha: composited on white",
    "P": "palette: expanded to RGB (transparent entries composited on white)",
    "CMYK": "converted to RGB",
    "YCbCr": "converted to RGB",
    "I;16": "16-bit: scaled to 8-bit by 1/257",
    "I;16B": "16-bit: scaled to 8-bit by 1/257",
    "I;16L": "16-bit: scaled to 8-bit by 1/257",
    "I": "32-bit integer: scaled by 1/257 (values above 65535 clip to white)",
}
SHOWN = 3  # example reasons / names per message: enough to find the files, short enough to read


@dataclass
class FolderStats:
    """One folder the trainer reads (the whole folder, a domain, a class, or one side of pairs)."""

    name: str
    folder: Path
    images: int = 0
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)
    modes: dict[str, int] = field(default_factory=dict)
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    rotated: int = 0  # EXIF orientation != 1: turned upright on load
    halves: bool = False  # side-by-side pairs: widths are of one half, the size each side is trained at
    smaller_than_size: int | None = None  # short side < size: upscaled by resize_and_crop


@dataclass
class FolderReport:
    """The result of `check_folder`: the layout, per-folder statistics, and what would fail or be skipped."""

    path: Path
    layout: str
    size: int | None = None
    folders: list[FolderStats] = field(default_factory=list)
    pairs: int | None = None
    unmatched_a: list[str] = field(default_factory=list)
    unmatched_b: list[str] = field(default_factory=list)
    odd_width: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def conversions(self) -> dict[str, str]:
        modes = sorted({mode for stats in self.folders for mode in stats.modes})
        return {mode: CONVERSIONS.get(mode, "converted to RGB by Pillow") for mode in modes if mode != "RGB"}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (paths as strings)."""
        out = _jsonable(asdict(self))
        out["ok"], out["conversions"] = self.ok, self.conversions
        return out

    def lines(self) -> list[str]:
        """A short human-readable report; ends with the verdict, or with one `error:` line per error."""
        lines = [f"{self.path}: {self.layout}"]
        for stats in self.folders:
            lines += _stats_lines(stats, self.size)
        if self.pairs is not None:
            lines.append(f"  {self.pairs} pair(s)" + (" usable once the errors below are fixed" if self.errors else ""))
        if self.conversions:
            lines.append("  converted on load:")
            lines += [f"    {mode}: {how}" for mode, how in self.conversions.items()]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"warning: {warning}" for warning in self.warnings]
        if self.errors:
            return lines + [f"error: {error}" for error in self.errors]
        skipped = f" ({len(self.warnings)} warning(s) above)" if self.warnings else ""
        return lines + [f"ok: training can read this folder{skipped}"]


def check_folder(path: str | Path, size: int | None = None) -> FolderReport:
    """Check the data folder `path` as training would read it: layout, images per folder, unreadable
    and ignored files, modes and sizes, pairing; `size` (the crop size) also counts the images that
    would be upscaled. Only reads files."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise GantoolError(f"data folder {root} {what_is(root)}; give a folder of images")
    for name_a, name_b in DOMAIN_LAYOUTS["train"]:
        if (root / name_a).is_dir() and (root / name_b).is_dir():
            if (name_a, name_b) == ("A", "B"):
                return _check_a_b(root, size)
            return _check_unpaired(root, name_a, name_b, size)
    if list_images(root, recursive=False):
        return _check_side_by_side(root, size)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes and list_images(root):
        return _check_classes(root, classes, size)
    return _check_no_images(root)


def _check_unpaired(root: Path, name_a: str, name_b: str, size: int | None) -> FolderReport:
    report = FolderReport(root, f"unpaired ({name_a}/ + {name_b}/)", size)
    for name in (name_a, name_b):
        _add_folder(report, name, root / name, required=True)
    tests = next(((a, b) for a, b in DOMAIN_LAYOUTS["test"][:-1] if (root / a).is_dir() and (root / b).is_dir()), None)
    if tests:
        for name in tests:  # only --val reads them: their problems do not stop training
            _add_folder(report, name, root / name, required=False)
        report.notes.append(f"{tests[0]}/ + {tests[1]}/ are read by --val and by gantool eval cyclegan")
    report.notes.append(f"train with: gantool train cyclegan --data {root}")
    return report


def _check_a_b(root: Path, size: int | None) -> FolderReport:
    """A/ + B/ is both pix2pix's two-folder layout and CycleGAN's: paired when names match."""
    scans = [scan_folder(root / "A"), scan_folder(root / "B")]
    keys = [{pair_key(scan, p): p for p in scan.images} for scan in scans]
    if scans[0].images and scans[1].images and not set(keys[0]) & set(keys[1]):
        report = FolderReport(root, "unpaired (A/ + B/, no file names in common)", size)
        for name, scan in zip("AB", scans):
            _add_folder(report, name, root / name, required=True, scan=scan)
        report.notes.append(f"train with: gantool train cyclegan --data {root}")
        return report
    report = FolderReport(root, "paired (A/ + B/ matched by name)", size)
    for name, scan in zip("AB", scans):
        _add_folder(report, name, root / name, required=True, scan=scan)
    *keys, broken = files_by_name(*scans)  # as match_by_name pairs them
    report.unmatched_a = sorted(str(k) for k in set(keys[0]) - set(keys[1]))
    report.unmatched_b = sorted(str(k) for k in set(keys[1]) - set(keys[0]))
    report.pairs = len(set(keys[0]) & set(keys[1]))
    if broken:
        report.warnings.append(f"{len(broken)} pair(s) skipped because a side is unreadable")
    for names, here, there in ((report.unmatched_a, "A", "B"), (report.unmatched_b, "B", "A")):
        if names:
            report.errors.append(f"{len(names)} name(s) in {root / here} without a partner in {root / there}: "
                                 f"{_shown(names)}; files pair up by name: rename, add or remove them")
    report.notes.append(f"train with: gantool train pix2pix --data {root}")
    report.notes.append("cyclegan can also use this folder: gantool train cyclegan --data (the same folder) "
                        "reads A/ and B/ as unpaired domains, where names need not match")
    return report


def _check_side_by_side(root: Path, size: int | None) -> FolderReport:
    scan = scan_folder(root, recursive=False)  # find_pairs reads only the top level when it has images
    if not scan.images:
        return _check_no_images(root, scan)
    report = FolderReport(root, "paired side-by-side (A | B in each file, split at half width)", size)
    infos = _add_folder(report, ".", root, required=True, scan=scan, halves=True)
    report.odd_width = [p for p, info in infos.items() if info.width % 2]
    report.pairs = len(scan.images) - len(report.odd_width)
    if report.odd_width:
        first = infos[report.odd_width[0]]
        report.errors.append(f"{len(report.odd_width)} side-by-side image(s) with an odd width, e.g. "
                             f"{report.odd_width[0]} ({first.width} px): crop or pad them to an even width")
    doubt = side_by_side_doubt(root, {p: (info.width, info.height) for p, info in infos.items()})
    if doubt:
        report.warnings.append(doubt)
    deeper = sorted({p.relative_to(root).parts[0] for p in list_images(root) if p.parent != root})
    if deeper:
        report.warnings.append(f"images in subfolder(s) {_shown(deeper)} are not read: with images at the top "
                               "level, only those are pairs")
    report.notes.append(f"train with: gantool train pix2pix --data {root}")
    return report


def _check_classes(root: Path, classes: list[str], size: int | None) -> FolderReport:
    report = FolderReport(root, f"class folders ({len(classes)} classes: {_shown(classes)})", size)
    for name in classes:
        _add_folder(report, name, root / name, required=True,
                    hint="every subfolder is a class: add images to it or move it out")
    domain_like = sorted(set(classes) & {a for pair in DOMAIN_LAYOUTS["train"] + DOMAIN_LAYOUTS["test"] for a in pair})
    if domain_like:
        report.warnings.append(f"subfolder(s) {_shown(domain_like)} look like half of the unpaired layout, which needs "
                               "both trainA/ and trainB/ (or A/ and B/); here they are read as classes")
    top = [p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
    if top:
        report.warnings.append(f"{len(top)} file(s) at the top level ignored (e.g. {top[0]}): "
                               "class images go in root/<class>/")
    report.notes.append(f"train with: gantool train cgan --data {root}")
    return report


def _check_no_images(root: Path, scan: FolderScan | None = None) -> FolderReport:
    scan = scan or scan_folder(root)
    if not scan.images and not scan.unreadable and not scan.ignored:
        report = FolderReport(root, "empty")
        report.errors.append(f"{root} is empty: put images in it (side-by-side A|B pairs, A/ + B/, "
                             "trainA/ + trainB/, or one subfolder per class)")
        return report
    report = FolderReport(root, "no images")
    report.errors.append(f"{root} holds no readable images ({scan.problems()}); images are "
                         ".png, .jpg, .jpeg, .bmp, ... files")
    return report


@dataclass(frozen=True)
class _ImageInfo:
    mode: str
    width: int  # as loaded, after EXIF rotation
    height: int
    orientation: int


def _image_info(path: Path) -> _ImageInfo | None:
    try:
        with Image.open(path) as img:
            orientation = int(img.getexif().get(0x0112, 1) or 1)
            width, height = img.size
            if orientation in (5, 6, 7, 8):  # quarter turns: exif_transpose swaps the sides
                width, height = height, width
            return _ImageInfo(img.mode, width, height, orientation)
    except (OSError, SyntaxError, ValueError):  # the scan decoded it, but the file may change under us
        return None


def _add_folder(report: FolderReport, name: str, folder: Path, required: bool, scan: FolderScan | None = None,
                halves: bool = False, hint: str = "add images to it") -> dict[Path, _ImageInfo]:
    """Scan `folder` into report.folders, adding its warnings (or errors, when training needs it and
    nothing is readable). `halves`: sizes are of each half of a side-by-side image."""
    scan = scan or scan_folder(folder)
    with ThreadPoolExecutor(max_workers=4) as pool:  # headers only: I/O bound
        infos = {p: info for p, info in zip(scan.images, pool.map(_image_info, scan.images)) if info}
    stats = _stats(name, scan, list(infos.values()), report.size, halves)
    report.folders.append(stats)
    if scan.problems():
        report.warnings.append(f"{folder}: {scan.problems()}")
    if not scan.images:
        found = f" ({scan.problems()})" if scan.problems() else ""
        if required:
            report.errors.append(f"{folder} holds no readable images{found}: {hint}")
        else:
            report.warnings.append(f"{folder} holds no readable images{found}: --val and eval would fail on it")
    return infos


def _stats(name: str, scan: FolderScan, infos: list[_ImageInfo], size: int | None, halves: bool) -> FolderStats:
    stats = FolderStats(name, scan.folder, len(scan.images), scan.unreadable, scan.ignored, halves=halves)
    for info in infos:
        stats.modes[info.mode] = stats.modes.get(info.mode, 0) + 1
    stats.modes = dict(sorted(stats.modes.items(), key=lambda item: (-item[1], item[0])))
    widths = [info.width // 2 if halves else info.width for info in infos]
    heights = [info.height for info in infos]
    if infos:
        stats.min_width, stats.max_width = min(widths), max(widths)
        stats.min_height, stats.max_height = min(heights), max(heights)
    stats.rotated = sum(info.orientation != 1 for info in infos)
    if size is not None:
        stats.smaller_than_size = sum(min(w, h) < size for w, h in zip(widths, heights))
    return stats


def _stats_lines(stats: FolderStats, size: int | None) -> list[str]:
    counts = [f"{stats.images} readable"]
    if stats.unreadable:
        counts.append(f"{len(stats.unreadable)} unreadable (skipped)")
    if stats.ignored:
        counts.append(f"{len(stats.ignored)} non-image file(s) ignored ({_shown([p.name for p in stats.ignored])})")
    lines = [f"  {stats.name + '/' if stats.name != '.' else 'images'}: {', '.join(counts)}"]
    lines += [f"    unreadable {p.name}: {why}" for p, why in stats.unreadable[:SHOWN]]
    if stats.images:
        modes = ", ".join(f"{mode} {count}" for mode, count in stats.modes.items())
        each = " (each half)" if stats.halves else ""
        lines.append(f"    modes: {modes}; width{each} {_span(stats.min_width, stats.max_width)}, "
                     f"height {_span(stats.min_height, stats.max_height)} px")
    if stats.rotated:
        lines.append(f"    {stats.rotated} with an EXIF orientation: turned upright on load")
    if stats.smaller_than_size:
        lines.append(f"    {stats.smaller_than_size} smaller than {size} px on the short side: "
                     "upscaled by resize_and_crop")
    return lines


def _span(low: int | None, high: int | None) -> str:
    return f"{low}" if low == high else f"{low}..{high}"


def _shown(names: list[str]) -> str:
    return ", ".join(names[:SHOWN]) + (f", ... ({len(names) - SHOWN} more)" if len(names) > SHOWN else "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value) if isinstance(value, Path) else value
