"""Editing a file inside a zip, as someone tampering with a bundle would."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path


def rewrite(bundle: Path, name: str, edit: Callable[[bytes], bytes]) -> None:
    with zipfile.ZipFile(bundle) as source:
        files = {n: source.read(n) for n in source.namelist()}
    files[name] = edit(files[name])
    with zipfile.ZipFile(bundle, "w") as target:
        for n, data in files.items():
            target.writestr(n, data)
