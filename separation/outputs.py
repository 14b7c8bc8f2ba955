"""Output folders the suite shares with its user: it replaces what it wrote, and nothing else.

A command's output folder may already hold files the suite never wrote (a
hand-written README.md beside a report, a thesis in a folder given as `-o`, a
user's notes next to a corpus). Outputs are built in a fresh temporary folder
(`tempfile.mkdtemp`: a name nobody holds) and then moved in:

- `install_files`: file by file, each replacing the file of the same name; of
  the folder's other files only those the command names as its own and no
  longer writes are removed (a report: tables, figures, REPORT.md).
- `replace_entries`: whole entries (a corpus's split folders), moved aside and
  replaced; an entry holding a file that is not the command's own is refused
  before anything moves, so nothing of the user's is ever deleted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from separation.errors import UserError


def refuse_file(path: Path, what: str) -> None:
    """A file where a folder is to be written is never replaced by one."""
    if path.is_symlink() and not path.exists():
        raise UserError(f"{path}: is a dangling link; expected a {what} (a folder)")
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file; expected a {what} (a folder)")


def fresh_folder(beside: Path, name: str) -> Path:
    """A new, empty, hidden folder in `beside` (created if missing) that no other writer holds."""
    beside.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=beside))


def _files(folder: Path) -> list[PurePosixPath]:
    return sorted(PurePosixPath(p.relative_to(folder).as_posix()) for p in folder.rglob("*") if p.is_file())


def install_files(staging: Path, target: Path, own: Iterable[str], last: Sequence[str] = ()) -> None:
    """Move every file of `staging` to the same relative path in `target`, replacing what is there.

    `own` names (relative paths) the files this command writes: those it did not
    write this time are stale and removed. Nothing else in `target` is touched.
    `last` are moved in after everything else (the file that says the output is
    complete, e.g. REPORT.md), so a crash midway never leaves a new one beside old tables.
    """
    new = _files(staging)
    later = {PurePosixPath(name) for name in last}
    target.mkdir(parents=True, exist_ok=True)
    for relative in [r for r in new if r not in later]:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / relative, target / relative)
    for name in own:
        stale = target / name
        if PurePosixPath(name) not in new and stale.is_file():
            stale.unlink()
    for relative in [r for r in new if r in later]:
        os.replace(staging / relative, target / relative)


def foreign_file(root: Path, names: Iterable[str], own: Callable[[PurePosixPath], bool]) -> Path | None:
    """The first file under `root/<name>` (for each name) that `own(path relative to root)` does not claim."""
    for name in names:
        entry = root / name
        if entry.is_file() or entry.is_symlink():
            candidates = [entry]
        elif entry.is_dir():
            candidates = sorted(p for p in entry.rglob("*") if not p.is_dir() or p.is_symlink())
        else:
            continue
        for path in candidates:
            if not own(PurePosixPath(path.relative_to(root).as_posix())):
                return path
    return None


def refuse_foreign(root: Path, names: Iterable[str], own: Callable[[PurePosixPath], bool], what: str) -> None:
    """One-line refusal when replacing `names` in `root` would delete a file the suite did not write."""
    found = foreign_file(root, names, own)
    if found is not None:
        raise UserError(f"{found}: not a file of {what}; replacing it would delete this file: "
                        "move it away or choose another folder (nothing was changed)")


def replace_entries(staging: Path, root: Path, names: Sequence[str], own: Callable[[PurePosixPath], bool],
                    what: str) -> None:
    """Replace `root/<name>` by `staging/<name>` for each name (relative paths), in order.

    Every old entry is checked first (`refuse_foreign`), then all are moved
    aside before any new one moves in, so a crash leaves entries missing, never
    old and new ones mixed; put the entry that marks a complete output last.
    Only after all are in place are the old ones deleted.
    """
    refuse_foreign(root, names, own, what)
    aside = fresh_folder(root, "old")
    installed: list[str] = []
    try:
        for index, name in enumerate(names):
            old = root / name
            if old.exists() or old.is_symlink():
                os.replace(old, aside / str(index))
        for name in names:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, root / name)
            installed.append(name)
    except BaseException:
        # Undo: the new entries go back to staging (the caller removes it), the old ones return.
        for name in installed:
            os.replace(root / name, staging / name)
        for index, name in enumerate(names):
            if (aside / str(index)).exists() or (aside / str(index)).is_symlink():
                os.replace(aside / str(index), root / name)
        raise
    shutil.rmtree(aside)
