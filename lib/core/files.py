"""A file the app cannot use, said in one line: the file, where in it (line, key), what is wrong, and
advice that fits the cause. A file that cannot be read for lack of permission needs its permission
changed, not deleting; a syntax error needs fixing where it is; a missing file needs restoring.
The loaders of the settings, the price table, the taxonomy and the seeds all read through here."""

from __future__ import annotations

from pathlib import Path


class FileProblem(ValueError):
    """One line naming the file and what to do; each loader re-raises it as its own error. `detail` is
    the line without the file's name, for a caller that names the file itself."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(f"{shown(path)}: {detail}")
        self.detail = detail


def shown(path: Path) -> str:
    """The path as a person finds it: relative to the project when inside it."""
    from lib.config import ROOT  # lib.config reads its secrets file through here

    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def unreadable(path: Path, exc: OSError, *, setting: str | None = None) -> str:
    """Why the file could not be read, and what to do about that cause (without the file's name)."""
    name = shown(path)
    other = f", or set {setting} to another file" if setting else ""
    if isinstance(exc, PermissionError):
        advice = f"give the user running the app read access (chmod u+r {name}){other}"
        cause = "permission denied"
    elif isinstance(exc, FileNotFoundError):
        inside = not Path(name).is_absolute()
        advice = (f"restore it (git checkout -- {name})" if inside else "create it") + other
        cause = "it does not exist"
    elif isinstance(exc, IsADirectoryError):
        advice = f"point at a file instead{other}"
        cause = "it is a folder"
    else:
        advice = f"check the disk and the file{other}"
        cause = exc.strerror or type(exc).__name__
    return f"cannot read it ({cause}); {advice}"


def read_text(path: Path, *, setting: str | None = None) -> str:
    """The file as UTF-8 text, or FileProblem saying why not and what to do."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileProblem(path, unreadable(path, exc, setting=setting)) from None
    except UnicodeDecodeError as exc:
        raise FileProblem(path, f"byte {exc.start} is not UTF-8 text; save the file as UTF-8") from None


def syntax_error(path: Path, fmt: str, line: int | None, problem: str) -> str:
    """A file that is not valid YAML, TOML or JSON: where, what, and to fix it there."""
    where = f"line {line}: " if line else ""
    return f"{shown(path)}: {where}not valid {fmt} ({problem}); fix the file there"


def key_error(path: Path, key: str, problem: str, advice: str) -> str:
    """A value in the file that is wrong: the file, the key, what is wrong and what is expected."""
    return f"{shown(path)}: {key}: {problem}; {advice}"
