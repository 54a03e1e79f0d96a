"""The workspace folder (SPEC §1) and the life of an input file in it.

A file is claimed by an atomic rename from ``inbox/`` into ``var/processing/``, then — after
the store has committed — moved to ``var/archive/YYYY/MM/DD/`` or ``var/rejected/`` (with
``NAME.errors.json``), and its integration report is written to ``outbox/acks/``. Every write
of a report goes through a temporary name and a rename, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import heapq
import json
import logging
import os
import shlex
import socket
import stat
import tempfile
from collections.abc import Callable, Container, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import BinaryIO, TypeVar

from .config import TEMPLATE
from .domain.model import record
from .domain.names import as_text, fitting, from_text
from .errors import ChorusError, WorkspaceError, WorkspaceLocked

log = logging.getLogger("chorus_batch")

CONFIG_NAME = "chorus-batch.toml"
ID_NAME = "workspace.id"
HOST = socket.gethostname()


def worker(pid: int | None = None) -> str:
    """A process (this one by default) as named in var/processing/: ``host.pid``."""
    return f"{HOST}.{pid or os.getpid()}"


_TEMP_SUFFIXES = (".tmp", ".part", "~")
SCRATCH = ("lots", "sort")  # what ``Workspace.scratch`` makes: the sorted inbox of a run, its sorted runs


def is_temporary(name: str) -> bool:
    """Names a sender is still writing: ``*.tmp``, ``*.part``, dot-files, ``*~``."""
    return name.startswith(".") or name.lower().endswith(_TEMP_SUFFIXES)


@record
class Pending:
    """An entry of the inbox (or a claim of it). ``name`` and ``partner`` are as the system
    gives them (a byte that is not UTF-8 is a surrogate); ``text`` is the name's text form."""

    path: Path  # where the file is now
    name: str  # its name as dropped
    partner: str | None  # the inbox sub-folder, if any

    @property
    def text(self) -> str:
        return as_text(self.name)

    @property
    def partner_text(self) -> str | None:
        return as_text(self.partner) if self.partner is not None else None


OrderKey = tuple[int, int, str, str]  # ``Workspace.order_key``


class NotRegular(OSError):
    """An entry that is not a regular file: never opened for its content."""


_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a folder",
}


def kind_of(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: str | Path, listed_regular: bool = False) -> tuple[int, os.stat_result]:
    """A descriptor open for reading on ``path``, a regular file, with its ``fstat``. The entry is judged by
    ``lstat`` before it is opened (unless ``listed_regular``: the folder's listing already said
    so, by its entry's type) and by ``fstat`` once it is (it may have been replaced in
    between); it is opened without following a symbolic link and without waiting (a named
    pipe would block an ordinary open until a writer comes).

    Raises:
        NotRegular: a symbolic link, named pipe, socket, device or folder (its kind in the message).
        OSError: it cannot be read (permissions, gone...).
    """
    if not listed_regular:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(f"{kind_of(mode)}, not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(f"{kind_of(info.st_mode)}, not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def content_hash(path: Path) -> str:
    """SHA-256 of a regular file read in 1 MiB pieces; ``""`` for an entry that is not a
    regular file or cannot be read (it has no content to compare)."""
    try:
        fd, _info = open_regular(path)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as fh:
        return digest_of(fh)


def digest_of(fh: BinaryIO) -> str:
    """SHA-256 of what is left to read in ``fh``, read 1 MiB at a time (memory stays small)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Workspace:
    root: Path
    # destinations planned for files whose moves wait for their batch's commit: not free either.
    # Each has a sequence number, so that a file's own plans can be dropped when it rolls back.
    # Kept by their text, which a path keeps once made (a new Path hashes all its parts).
    planned: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _plans: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)  # the last number given
    skipped: set[Path] = field(default_factory=set, compare=False, repr=False)  # folders left in the inbox, logged
    # the folders files go to, one object each (``_under``)
    _folders: dict[tuple[Path, str], Path] = field(default_factory=dict, compare=False, repr=False)

    # the folders are computed once (cached_property writes past the frozen dataclass): the
    # intake asks for them for every file
    @cached_property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @cached_property
    def acks(self) -> Path:
        return self.root / "outbox" / "acks"

    @cached_property
    def responses(self) -> Path:
        return self.root / "outbox" / "responses"

    @cached_property
    def reports(self) -> Path:
        return self.root / "outbox" / "reports"

    @cached_property
    def var(self) -> Path:
        return self.root / "var"

    @cached_property
    def processing(self) -> Path:
        return self.var / "processing"

    @cached_property
    def rejected(self) -> Path:
        return self.var / "rejected"

    @cached_property
    def archive(self) -> Path:
        return self.var / "archive"

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def store_path(self) -> Path:
        """The workspace's own SQLite store (the store builds its URL: a path is never pasted
        into a URL's text, where ``%``, ``?`` or ``#`` would mean something else)."""
        return self.var / "store.sqlite"

    # -- identity (``chorus_batch.identity``) -----------------------------------------------------

    @property
    def id_path(self) -> Path:
        """``var/workspace.id``: the id ``init`` gave the workspace, also recorded in its store."""
        return self.var / ID_NAME

    def read_id(self) -> str | None:
        """The workspace's id, or ``None`` when it has none (yet)."""
        try:
            return self.id_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkspaceError(f"cannot read {self.id_path}: {exc}") from None

    def write_id(self, value: str) -> None:
        """Write the workspace's id through a temporary name of this process's own (several workers
        may write the same id at once) and an atomic rename, flushed to the disk."""
        tmp = self.var / f".{ID_NAME}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            try:
                os.write(fd, f"{value}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.id_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _sync_folder(self.var)

    def history(self) -> list[str]:
        """What shows that this workspace has processed files (empty: nothing does): its id file,
        reports in ``outbox/acks/``, files in ``var/archive/`` or ``var/rejected/``. Each place is
        looked at until its first file only."""
        found = []
        if self.id_path.exists():
            found.append("its id in var/workspace.id")
        for folder, what in ((self.acks, "reports in outbox/acks/"), (self.archive, "files in var/archive/")):
            if next(_files_below(folder), None) is not None:
                found.append(what)
        if next(_files_below(self.rejected), None) is not None:
            found.append("files in var/rejected/")
        return found

    def newest_reports(self, count: int) -> list[Path]:
        """The ``count`` integration reports of ``outbox/acks/`` written last."""
        return _newest((Path(e.path) for e in _entries(self.acks) if e.name.endswith(".json")), count)

    def newest_kept(self, count: int) -> list[Path]:
        """The ``count`` files archived or rejected last (the newest days of ``var/archive/`` first;
        the ``.errors.json`` beside a rejected file left out)."""
        kept = [Path(e.path) for e in _entries(self.rejected) if not e.name.endswith(".errors.json")]
        days = 0
        for year in reversed(_entries(self.archive)):
            for month in reversed(_entries(Path(year.path))):
                for day in reversed(_entries(Path(month.path))):
                    kept += [Path(e.path) for e in _entries(Path(day.path)) if not e.is_dir()]
                    days += 1
                    if len(kept) >= 2 * count or days >= 7:
                        return _newest(kept, count)
        return _newest(kept, count)

    @contextmanager
    def locked(self, now: str) -> Iterator[None]:
        """Hold the workspace for one ``run`` or ``watch`` (SQLite). The lock is an ``flock`` on
        ``var/chorus-batch.lock``: the kernel releases it when its holder dies, so a lock left by a
        killed process never blocks the next run. The file names the holder (PID, host, since).

        Raises:
            WorkspaceLocked: another live process holds it (exit 3).
        """
        self.var.mkdir(parents=True, exist_ok=True)
        path = self.var / "chorus-batch.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 1024, 0).decode("utf-8", "replace").strip() or "unknown process"
                raise WorkspaceLocked(f"workspace {self.root} is held by {holder}") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()} since {now}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the flock

    def folders(self) -> tuple[Path, ...]:
        return (self.inbox, self.acks, self.responses, self.reports, self.processing, self.rejected, self.archive)

    # -- what a workspace is ------------------------------------------------------------------------

    def is_workspace(self) -> bool:
        """Whether the folder is a chorus-batch workspace: it holds ``var/workspace.id`` (written by
        ``init``), or, made by a version before that id, both ``inbox/`` and ``var/`` (it adopts an
        id at its next command)."""
        return self.id_path.is_file() or (self.inbox.is_dir() and self.var.is_dir())

    def require(self) -> None:
        """Refuse a folder that is not a workspace, before anything is created in it.

        Raises:
            WorkspaceError: WORKSPACE_NOT_FOUND (exit 2), the message saying how to make one.
        """
        if not self.is_workspace():
            shown = as_text(str(self.root))
            missing = "" if os.path.lexists(self.root) else " (the folder does not exist)"
            root = self.root.resolve()
            target = "PATH" if root in (Path(root.anchor), _home()) else shlex.quote(shown)  # never / or ~
            raise WorkspaceError(
                f"{shown}: not a chorus-batch workspace{missing}; run `chorus-batch init {target}` "
                "first (or check --workspace and CHORUS_BATCH_WORKSPACE)",
                code="WORKSPACE_NOT_FOUND",
            )

    def refuse_new(self, force: bool = False) -> None:
        """What ``init`` (and the demo) refuse to make a workspace of: the root folder, the home
        folder (whatever ``force`` says), a file, and, unless ``force``, a folder that already
        holds anything but a workspace's own entries (``inbox/``, ``outbox/``, ``var/``,
        ``chorus-batch.toml``) and is not a workspace. An existing workspace is never refused.

        Raises:
            WorkspaceError: WORKSPACE_REFUSED (exit 2), the message naming the folder and the way out.
        """
        root = self.root.resolve()
        shown = as_text(str(root))
        if root == Path(root.anchor):
            raise WorkspaceError(
                f"{shown} is the root folder: a workspace needs a folder of its own (e.g. /srv/edi)",
                code="WORKSPACE_REFUSED",
            )
        if root == _home():
            raise WorkspaceError(
                f"{shown} is your home folder: a workspace needs a folder of its own (e.g. {shown}/edi)",
                code="WORKSPACE_REFUSED",
            )
        if self.is_workspace() or not os.path.lexists(root):
            return
        if not root.is_dir():
            raise WorkspaceError(f"{shown} is not a folder", code="WORKSPACE_REFUSED")
        if force:
            return
        own = {"inbox", "outbox", "var", CONFIG_NAME}
        try:
            others = sorted(name for name in os.listdir(root) if name not in own)
        except OSError as exc:
            raise WorkspaceError(f"cannot list {shown}: {exc.strerror}", code="WORKSPACE_INVALID") from None
        if others:
            listed = ", ".join(as_text(n) for n in others[:3]) + (", ..." if len(others) > 3 else "")
            raise WorkspaceError(
                f"{shown} is not empty ({listed}) and is not a chorus-batch workspace; give a new or empty "
                "folder, or add --force to set the workspace up among what is there",
                code="WORKSPACE_REFUSED",
            )

    def init(self) -> list[Path]:
        """Create what is missing (folders, a commented config); return what was created."""
        created = []
        try:
            for folder in self.folders():
                if not folder.is_dir():
                    folder.mkdir(parents=True, exist_ok=True)
                    created.append(folder)
            if not self.config_path.exists():
                self.config_path.write_text(TEMPLATE, encoding="utf-8")
                created.append(self.config_path)
        except OSError as exc:
            raise WorkspaceError(f"cannot set up workspace {self.root}: {exc.strerror}") from None
        return created

    def ensure(self) -> None:
        """Create the missing folders of a workspace (one removed by hand) silently; ``require`` first."""
        try:
            for folder in self.folders():
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot use workspace {self.root}: {exc.strerror}") from None

    # -- intake ---------------------------------------------------------------------------------

    def pending(self, sort: bool = True) -> Iterator[Pending]:
        """Entries waiting in ``inbox/`` and its partner sub-folders, sorted (unless ``sort`` is
        false: then as the folders list them, none held in memory), temporary names skipped.
        Every entry that is not a folder is a candidate, whatever its type: one that is not a
        regular file (symbolic link, named pipe, socket, device) is taken to be rejected with
        ``NOT_A_REGULAR_FILE``, never opened. A folder inside a partner folder is left where it
        is, with a warning the first time it is seen."""
        for entry, partner in self.pending_entries(sort):
            yield Pending(Path(entry.path), entry.name, partner)

    def pending_entries(self, sort: bool = True) -> Iterator[tuple[os.DirEntry[str], str | None]]:
        """``pending`` as the listing's entries, each with its partner folder's name (``None``
        in ``inbox/`` itself): what a big inbox's count and sort look at, no path object made."""
        listing = _entries if sort else _listed
        for entry in listing(self.inbox):
            if entry.is_dir(follow_symlinks=False):
                for sub in listing(Path(entry.path)):
                    if sub.is_dir(follow_symlinks=False):
                        self._skip(Path(sub.path))
                    else:
                        yield sub, entry.name
            else:
                yield entry, None

    def _skip(self, path: Path) -> None:
        if path not in self.skipped:
            self.skipped.add(path)
            log.warning(
                "%s: a folder inside a partner folder; left where it is (only files are taken)", self.relative(path)
            )

    @staticmethod
    def ordered(
        items: Iterable[Pending], rank: Callable[[bytes], int], by_arrival: Container[int] = ()
    ) -> list[Pending]:
        """``items`` sorted by ``order_key``."""
        return sorted(items, key=lambda item: Workspace.order_key(item, rank, by_arrival))

    @staticmethod
    def order_key(item: Pending, rank: Callable[[bytes], int], by_arrival: Container[int] = ()) -> OrderKey:
        """Where ``item`` goes in a run: by the rank of its first 4 KB, then by partner and name
        (orders before the documents that refer to them). Within a rank of ``by_arrival``, files
        go by modification time first (the order they arrived in), then name, whatever their
        partner: ``(rank, 0, partner, name)`` or ``(rank, mtime_ns, name, partner)``, the partner
        ``""`` when there is none."""
        return Workspace.entry_key(item.path, item.name, item.partner, rank, by_arrival)

    @staticmethod
    def entry_key(
        path: str | Path,
        name: str,
        partner: str | None,
        rank: Callable[[bytes], int],
        by_arrival: Container[int] = (),
        listed_regular: bool = False,
    ) -> OrderKey:
        """``order_key`` of the entry at ``path`` (``listed_regular``: as ``open_regular``)."""
        arrived = 0
        try:
            fd, info = open_regular(path, listed_regular)  # plain system calls: this runs for every file
            try:
                head = os.read(fd, 4096)
                found = rank(head)
                if found in by_arrival:
                    arrived = info.st_mtime_ns
            finally:
                os.close(fd)
        except OSError:
            found = rank(b"")
        if arrived:
            return (found, arrived, name, partner or "")
        return (found, 0, partner or "", name)

    def claim(self, item: Pending) -> Pending | None:
        """Take the file out of the inbox by an atomic rename into this worker's folder
        ``var/processing/<host>.<pid>/<partner or _>/``; ``None`` if another worker was first."""
        folder = self._under(self.processing, f"{worker()}/{item.partner or '_'}")
        target = _free_name(folder, item.name)  # its own name (recovery may put it back), shortened only if taken
        try:
            _in_folder(folder, lambda: os.rename(item.path, target), source=item.path)
        except FileNotFoundError:  # another worker took it
            return None
        return Pending(target, item.name, item.partner)

    def _under(self, base: Path, relative: str) -> Path:
        """``base / relative``, one object for every file that goes there (a claim folder, an
        archive day): a new ``Path`` for each file cost more than the rename it names."""
        folder = self._folders.get((base, relative))
        if folder is None:
            folder = self._folders[(base, relative)] = base / relative
        return folder

    def claimed(self) -> list[tuple[str, Pending]]:
        """Entries in ``var/processing/`` with the worker (``host.pid``) that claimed them, sorted."""
        found = []
        for worker in _entries(self.processing):
            for folder in _entries(Path(worker.path)):
                for entry in _entries(Path(folder.path)):
                    partner = None if folder.name == "_" else folder.name
                    found.append((worker.name, Pending(Path(entry.path), entry.name, partner)))
        return found

    def prune(self, busy: Callable[[str], bool]) -> None:
        """The empty folders of ``var/processing/`` removed, those of the workers ``busy`` says
        may still claim into them (``host.pid``) aside: nothing empty is left after a run. The
        scratch files of other workers (``scratch``) go too, unless ``busy`` says they run."""
        for owner in _entries(self.processing):
            if busy(owner.name):
                continue
            for folder in (*_entries(Path(owner.path)), owner):
                with contextlib.suppress(OSError):  # not empty (a claim is there), or already gone
                    os.rmdir(folder.path)
        with contextlib.suppress(OSError), os.scandir(self.var) as found:
            for entry in found:
                kind, _, rest = entry.name[1:].partition(".")
                maker = rest.rpartition(".")[0]  # host.pid, before mkstemp's random part
                if entry.name.startswith(".") and kind in SCRATCH and maker != worker() and not busy(maker):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    def scratch(self, kind: str) -> tuple[int, str]:
        """A new temporary file of this process (``kind``: one of ``SCRATCH``), open for
        writing: ``var/.<kind>.<host>.<pid>.<random>``, on the workspace's own disk. The process
        removes it; one a killed process left is removed by ``prune`` once that process is gone.

        Raises:
            OSError: ``var/`` cannot be written (full, read-only...).
        """
        assert kind in SCRATCH
        return tempfile.mkstemp(prefix=f".{kind}.{worker()}.", dir=self.var)

    def unclaim(self, item: Pending) -> Path:
        """Put a claimed file back into the inbox (its partner folder) under a free name."""
        folder = self.inbox / item.partner if item.partner else self.inbox
        folder.mkdir(parents=True, exist_ok=True)
        target = _free_name(folder, item.name)
        os.rename(item.path, target)
        return target

    # -- outcome --------------------------------------------------------------------------------

    # Names made from a file's name keep at most BASE_MAX bytes of it (``fitting``), so that
    # they and their temporary names fit; the full name is in the report and the store.

    def plan_archive(self, name: str, when: datetime) -> Path:
        folder = self._under(self.archive, f"{when.year:04d}/{when.month:02d}/{when.day:02d}")
        return self._plan(_free_name(folder, fitting(name), taken=self.planned))

    def plan_rejected(self, name: str) -> Path:
        return self._plan(_free_name(self.rejected, fitting(name), also=".errors.json", taken=self.planned))

    def plan_ack(self, text: str) -> Path:
        """``outbox/acks/<text>.json`` (``<text>.N.json`` when taken) for a file whose name's
        text form is ``text``, shortened as every made name is."""
        base = fitting(text)
        target = self.acks / f"{base}.json"
        n = 1
        while str(target) in self.planned or _lexists(target):
            target = self.acks / f"{base}.{n}.json"
            n += 1
        return self._plan(target)

    def _plan(self, path: Path) -> Path:
        self._plans[0] += 1
        self.planned[str(path)] = self._plans[0]
        return path

    def plans_made(self) -> int:
        """A mark: ``release(after=mark)`` forgets what is planned from now on."""
        return self._plans[0]

    def release(self, after: int = 0) -> None:
        """Forget the destinations planned after the mark ``after``: all of them once the
        batch's files and reports are in place, or those of a file whose processing rolled back."""
        for path, number in list(self.planned.items()):
            if number > after:
                del self.planned[path]

    def retry(self, stored_as: str | None, name: str, partner: str | None) -> Path:
        """Move a rejected file back into the inbox (its partner folder), dropping its errors
        file; ``stored_as``, ``name`` and ``partner`` are text forms, as the store has them.

        Raises:
            ChorusError: FILE_NOT_FOUND when the file is no longer in ``var/rejected/`` (moved by hand,
            or already retried).
        """
        src = self.at(stored_as) if stored_as else None
        if src is None or not os.path.lexists(src) or self.rejected not in src.parents:
            raise ChorusError(
                f"{name} is no longer waiting in {self.rejected} (already retried?)", code="FILE_NOT_FOUND"
            )
        folder = self.inbox / from_text(partner) if partner else self.inbox
        dest = _free_name(folder, from_text(name))
        self.move(src, dest)
        src.with_name(src.name + ".errors.json").unlink(missing_ok=True)
        return dest

    def move(self, src: Path, dest: Path) -> None:
        _in_folder(os.path.dirname(dest), lambda: os.replace(src, dest), source=src)

    def relative(self, path: Path) -> str:
        """``path`` relative to the workspace, in text form (as the store keeps it)."""
        root = str(self.root)
        text = str(path)
        if text.startswith(root + os.sep):  # the usual case, without pathlib's cost (per file)
            return as_text(text[len(root) + 1 :].replace(os.sep, "/"))
        return as_text(path.relative_to(self.root).as_posix())

    def at(self, relative: str) -> Path:
        """The path the store's ``relative`` text names (the inverse of ``relative``)."""
        return self.root / from_text(relative)


def _home() -> Path | None:
    """The user's home folder, resolved; ``None`` when the system cannot tell."""
    try:
        return Path.home().resolve()
    except (RuntimeError, KeyError, OSError):
        return None


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` by name, temporary names left out; none when it cannot be listed."""
    return sorted(_listed(folder), key=lambda e: e.name)


def _listed(folder: Path) -> Iterator[os.DirEntry[str]]:
    """``_entries`` as the system lists them, one at a time (none held in memory)."""
    try:
        found = os.scandir(folder)
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("%s: cannot be listed (%s); its files wait", as_text(str(folder)), exc.strerror)
        return
    with found:
        yield from (e for e in found if not is_temporary(e.name))


def _files_below(folder: Path) -> Iterator[Path]:
    """The files under ``folder`` (in its sub-folders too), temporary names left out, as they are found."""
    for entry in _entries(folder):
        if entry.is_dir(follow_symlinks=False):
            yield from _files_below(Path(entry.path))
        else:
            yield Path(entry.path)


def _newest(paths: Iterable[Path], count: int) -> list[Path]:
    """The ``count`` paths modified last, newest first (those gone meanwhile left out)."""

    def modified(path: Path) -> float:
        try:
            return path.lstat().st_mtime
        except OSError:
            return -1.0

    stamped = [(modified(p), p) for p in paths]
    return [p for when, p in heapq.nlargest(count, stamped) if when >= 0]


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename in it) to the disk, where the system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _lexists(path: Path) -> bool:
    """``os.path.lexists`` (a dangling symbolic link counts), without an exception raised and
    caught when the answer is no, as it usually is when a name is planned (twice a file)."""
    return os.access(path, os.F_OK, follow_symlinks=False)


def _free_name(folder: Path, name: str, also: str = "", taken: Container[str] = ()) -> Path:
    """``folder/name``, or ``folder/name.N`` when that (or its companion) is taken or planned
    (``name`` then shortened first if it must be, to leave room for the number)."""
    target = folder / name
    n = 1
    while str(target) in taken or _lexists(target) or (also and target.with_name(target.name + also).exists()):
        target = folder / f"{fitting(name)}.{n}"
        n += 1
    return target


T = TypeVar("T")
# folders this process made or found, as text (a path's text is kept by the path, where a new
# ``Path`` object hashes its parts again): not asked for again on every file
_MADE: set[str] = set()


def _folder(path: str | Path, again: bool = False) -> None:
    text = os.fspath(path)
    if again or text not in _MADE:
        Path(text).mkdir(parents=True, exist_ok=True)
        _MADE.add(text)


def _in_folder(folder: str | Path, action: Callable[[], T], source: Path | None = None) -> T:
    """``action`` (a rename or a creation in ``folder``), the folder made first if this process
    has not seen it yet. Should the folder have gone away since (removed by hand), it is made
    again and the action tried once more, unless it is ``source`` that is gone."""
    _folder(folder)
    try:
        return action()
    except FileNotFoundError:
        if source is not None and not os.path.lexists(source):
            raise
        _folder(folder, again=True)
        return action()


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` through a temporary name and an atomic rename: readers never see half a file."""
    write_chunks(path, (data,))


def write_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    """``write_bytes`` for content made piece by piece (a big report): the pieces go to the
    temporary name as they come; the temporary file is removed if making them fails."""
    folder, name = os.path.split(path)  # (text: a new Path for each file costs more than the writing)
    tmp = os.path.join(folder, f".{name}.tmp")
    fd = _in_folder(folder, lambda: os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))
    try:
        try:
            for data in chunks:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, payload: object) -> None:
    """Write ``payload`` as UTF-8 JSON, atomically, laid out by ``readable_json``."""
    write_bytes(path, (readable_json(payload) + "\n").encode("utf-8"))


def readable_json(value: object, indent: str = "") -> str:
    """JSON for people: a list or object that holds no non-empty list or object is written on
    one line, any other is opened over several lines, two spaces deeper. The one-line parts
    come from the C encoder (``json.dumps(indent=...)`` leaves it and is several times slower;
    every file gets such a report)."""
    if isinstance(value, dict):
        members: Iterable[object] = value.values()
    elif isinstance(value, list):
        members = value
    else:
        return _dumps(value)
    for member in members:
        if member and isinstance(member, dict | list):
            break
    else:  # no non-empty list or object inside
        return _dumps(value)
    inner = indent + "  "
    if isinstance(value, dict):
        lines = [f"{inner}{_key(k)}: {readable_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(lines) + f"\n{indent}}}"
    return "[\n" + ",\n".join([inner + readable_json(v, inner) for v in value]) + f"\n{indent}]"


_dumps = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps with options makes an encoder per call
_key = lru_cache(maxsize=1024)(_dumps)  # the keys of reports: the same few, file after file
