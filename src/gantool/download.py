"""Fetching one file over HTTP(S): all of it or an error, with progress and its sha256.

Only `gantool pretrained get` downloads anything, and only when asked. The published models'
host is tried over https first; plain http, which cannot show where a file came from, is used
only when https cannot connect at all, and the log says so. The sha256 of what arrived is
computed on the way in, so the caller can record and later check it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gantool.errors import GantoolError

CHUNK = 1 << 20


class Unreachable(GantoolError):
    """No connection to the server at all (as opposed to a server that answered with an error)."""


@dataclass(frozen=True)
class Fetched:
    url: str  # the address the file came from (after any redirect)
    sha256: str
    size: int


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, target: Path, progress: bool = True, desc: str = "",
          log: Callable[[str], None] = lambda line: None) -> Fetched:
    """`url` into `target`, all of it or an error (the caller removes what a failure leaves)."""
    import http.client
    import urllib.error
    import urllib.request

    from gantool.progress import progress as progress_bar

    try:
        response = urllib.request.urlopen(url, timeout=60)  # noqa: S310  (https or http only: the callers' URLs)
    except urllib.error.HTTPError as err:
        raise GantoolError(f"could not download {url}: HTTP {err.code} {err.reason}; nothing was cached") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise Unreachable(f"could not reach {url} ({reason}); check the connection, or give a mirror with "
                          "--url; nothing was cached") from None
    final = response.geturl() or url
    if url.startswith("https://") and final.startswith("http://"):
        log(f"note: {url} redirected to plain http ({final})")
    total = int(response.headers.get("Content-Length") or 0) or None
    digest, received = hashlib.sha256(), 0
    try:
        with response, target.open("wb") as out, progress_bar(total, desc=desc, unit="B", unit_scale=True,
                                                              disable=not progress) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    except (http.client.HTTPException, OSError) as err:
        raise GantoolError(f"the download of {url} broke off after {received / 1e6:.1f} MB"
                           f"{f' of {total / 1e6:.1f} MB' if total else ''} ({type(err).__name__}); nothing was "
                           "cached: run the command again") from None
    if total is not None and received != total:
        raise GantoolError(f"the download of {url} broke off after {received / 1e6:.1f} MB of {total / 1e6:.1f} MB; "
                           "nothing was cached: run the command again")
    return Fetched(final, digest.hexdigest(), received)


def fetch_https_first(url: str, target: Path, progress: bool = True, desc: str = "",
                      log: Callable[[str], None] = lambda line: None) -> Fetched:
    """`fetch` over https; over plain http only when https cannot connect (said in `log`)."""
    if not url.startswith("https://"):
        return fetch(url, target, progress, desc, log)
    try:
        return fetch(url, target, progress, desc, log)
    except Unreachable as err:
        plain = "http://" + url.removeprefix("https://")
        log(f"{err.args[0].split('; ')[0]}; trying plain http, which cannot show that the file comes from its "
            f"publisher: {plain}")
        return fetch(plain, target, progress, desc, log)
