"""Safe extraction of dataset archives (zip and tar).

Every member is checked before anything is written: absolute paths, ``..`` components, and links
(symbolic or hard) or device files in tar archives are refused with an error naming the archive and
the member, so an archive can never write outside its target folder.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from snnctl.errors import SnnctlError

__all__ = ["UnsafeArchiveError", "safe_extract"]


class UnsafeArchiveError(SnnctlError):
    pass


def _check_member(archive: Path, name: str, target: Path) -> None:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    resolved = (target / Path(*parts)).resolve() if parts else target
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts or \
            os.path.commonpath([str(resolved), str(target)]) != str(target):
        raise UnsafeArchiveError(
            f"{archive}: member '{name}' would be written outside {target}; nothing was extracted",
            "The archive is damaged or malicious: download it again from the dataset's official source.",
        )


def safe_extract(archive: Path, target: Path) -> list[str]:
    """Extract ``archive`` into ``target`` after checking every member; returns the member names."""
    archive, target = Path(archive), Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()
                for name in names:
                    _check_member(archive, name, target)
                zf.extractall(target)
            return names
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member(archive, m.name, target)
                if not (m.isfile() or m.isdir()):
                    raise UnsafeArchiveError(
                        f"{archive}: member '{m.name}' is a link or special file; nothing was extracted",
                        "Dataset archives hold only files and folders: download it again from the official source.",
                    )
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tf.extractall(target, members=members, **extra)
            return [m.name for m in members]
    except OSError as exc:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, getattr(errno, "EDQUOT", -1)):
            from snnctl.files import disk_error

            raise disk_error(exc, target / Path(archive).name, f"the files of {Path(archive).name}") from None
        raise SnnctlError(f"{archive}: cannot extract ({exc})", "The archive is incomplete or damaged: download it again.") from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise SnnctlError(f"{archive}: cannot extract ({exc})", "The archive is incomplete or damaged: download it again.") from None
