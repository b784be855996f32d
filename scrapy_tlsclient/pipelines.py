"""TLSFilesPipeline: Scrapy's FilesPipeline without holding files in memory.

Scrapy's FilesPipeline keeps each downloaded file in memory, twice (the
response body, then a BytesIO for the store). Here each file request gets
the ``body_file`` meta key, so the download handler writes the body to a
temporary file beside the store as it arrives; the checksum is computed
from that file in chunks, and the file is moved atomically into an
``FSFilesStore`` or streamed from disk into the other stores. Everything
else (``FILES_STORE``, ``FILES_EXPIRES``, ``FILES_URLS_FIELD``,
``FILES_RESULT_FIELD``, ``file_path()`` overrides, the item's results) is
FilesPipeline's own.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import tempfile
import time
import uuid
from contextlib import suppress
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

from scrapy.pipelines.files import FilesPipeline, FSFilesStore, GCSFilesStore
from scrapy.pipelines.media import FileException
from scrapy.utils.defer import ensure_awaitable
from scrapy.utils.request import referer_str

from ._body_file import own_tag, process_tag, tag_of
from ._config import DEFAULT_SETTINGS, resume_dir
from ._threads import make_runner

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response
    from scrapy.pipelines.media import MediaPipeline
    from twisted.internet.defer import Deferred

logger = logging.getLogger("scrapy_tlsclient")

__all__ = ["TLSFilesPipeline"]

#: Temporary files of an FSFilesStore live here, inside the store, so the
#: final move is a rename on one filesystem.
TEMP_DIR_NAME = ".tlsclient-partial"
CHUNK = 1024 * 1024


class TLSFilesPipeline(FilesPipeline):
    """A FilesPipeline whose files go from the network to disk in pieces.

    Enable it instead of FilesPipeline::

        ITEM_PIPELINES = {"scrapy_tlsclient.TLSFilesPipeline": 1}
        FILES_STORE = "/data/files"
    """

    def __init__(self, store_uri: str | os.PathLike[str], *args: Any, **kwargs: Any) -> None:
        _make_local_store(store_uri)
        super().__init__(store_uri, *args, **kwargs)
        if isinstance(self.store, FSFilesStore):
            self._temp_dir = Path(self.store.basedir) / TEMP_DIR_NAME
        else:
            self._temp_dir = Path(tempfile.gettempdir()) / "scrapy-tlsclient-files"
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        _sweep_stale(self._temp_dir)
        settings = self.crawler.settings
        #: With a resume directory (JOBDIR) a file's temporary name is the
        #: request's fingerprint, so the next run resumes its kept bytes.
        self._named_by_request = settings.getbool(
            "TLS_CLIENT_RESUME", bool(DEFAULT_SETTINGS["TLS_CLIENT_RESUME"])
        ) and bool(resume_dir(settings))
        if self._named_by_request:
            max_age = settings.getfloat(
                "TLS_CLIENT_RESUME_MAX_AGE",
                DEFAULT_SETTINGS["TLS_CLIENT_RESUME_MAX_AGE"],  # type: ignore[arg-type]
            )
            _sweep_old_named(self._temp_dir, max_age)
        # Hashing and moving files run off the reactor thread.
        self._io = make_runner(4)
        # A forced stop (a second Ctrl-C) skips the download's own cleanup;
        # what this process left is removed at exit.
        atexit.register(_sweep_own, self._temp_dir)

    def media_to_download(
        self, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> Deferred[Any] | None:
        checked = super().media_to_download(request, info, item=item)

        def stream_if_needed(result: Any) -> Any:
            if result is None and request.meta.get("body_file") is None:
                if self._named_by_request:
                    name = f"{_NAMED_PREFIX}{self._fingerprinter.fingerprint(request).hex()}"
                else:
                    # Unique per process and request: several crawler
                    # processes may share one store.
                    name = f"{process_tag()}-{uuid.uuid4().hex}"
                request.meta["body_file"] = str(self._temp_dir / name)
                # The handler hashes the file as it arrives: no second
                # pass over it after the last byte.
                request.meta["tls_client_body_file_hash"] = "md5"
                # Progress lines name the file in the store, not the
                # temporary file it downloads to.
                request.meta["tls_client_body_file_label"] = self._label(request, info, item)
            return result

        return checked.addCallback(stream_if_needed) if checked is not None else stream_if_needed(None)

    def _label(self, request: Request, info: MediaPipeline.SpiderInfo, item: Any) -> str:
        """Where the file will be stored, as far as file_path() can tell
        before the response (an override may need the response)."""
        try:
            path = self.file_path(request, info=info, item=item)
        except Exception:
            return request.url
        if isinstance(self.store, FSFilesStore):
            return str(Path(self.store.basedir, path))
        return path  # relative to FILES_STORE (a bucket, an FTP directory)

    async def media_downloaded(
        self, response: Response, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> Any:
        body_file = request.meta.get("body_file")
        size = None
        if isinstance(body_file, str) and not response.body:
            size = await self._io.run(_size_or_none, Path(body_file))
        if size is None:
            # Not written to a file (a cached response, another handler):
            # FilesPipeline's own in-memory path.
            return await super().media_downloaded(response, request, info, item=item)
        source = Path(cast("str", body_file))
        try:
            return await self._store_from_disk(source, size, response, request, info, item)
        finally:
            await self._io.run(_remove, source)

    async def _store_from_disk(
        self,
        source: Path,
        size: int,
        response: Response,
        request: Request,
        info: MediaPipeline.SpiderInfo,
        item: Any,
    ) -> dict[str, Any]:
        """FilesPipeline.media_downloaded's steps, with the body on disk."""
        referer = referer_str(request)
        if response.status != 200:
            logger.warning(
                "File (code: %s): Error downloading file from %s referred in <%s>",
                response.status,
                request,
                referer,
            )
            raise FileException("download-error")
        if size == 0:
            logger.warning(
                "File (empty-content): Empty file from %s referred in <%s>: no-content", request, referer
            )
            raise FileException("empty-content")
        status = "cached" if "cached" in response.flags else "downloaded"
        self.inc_stats(status)
        try:
            path = self.file_path(request, response=response, info=info, item=item)
            meta = response.meta if response.request is not None else request.meta
            checksum = meta.get("tls_client_body_file_digest")
            if meta.get("tls_client_body_file_hash") != "md5" or not checksum:
                checksum = await self._io.run(_md5_of_file, source)
            await self._persist(source, path, info)
        except FileException as exc:
            logger.warning(
                "File (error): Error processing file from %s referred in <%s>: %s", request, referer, exc
            )
            raise
        except Exception as exc:
            logger.error(
                "File (unknown-error): Error processing file from %s referred in <%s>",
                request,
                referer,
                exc_info=True,
            )
            raise FileException(str(exc)) from exc
        self.crawler.stats.inc_value("tls_client/files_stored")
        self.crawler.stats.inc_value("tls_client/files_stored_bytes", size)
        result: dict[str, Any] = {"url": request.url, "path": path, "checksum": checksum, "status": status}
        # What the download took (set by the handler on the request that
        # got the response: a retry's copy, whose meta the response has).
        if "tls_client_body_file_attempts" in meta:
            result["attempts"] = meta["tls_client_body_file_attempts"]
            result["resumed_bytes"] = meta.get("tls_client_body_file_resumed_bytes", 0)
        return result

    async def _persist(self, source: Path, path: str, info: MediaPipeline.SpiderInfo) -> None:
        if isinstance(self.store, FSFilesStore):
            await self._io.run(_move_into_store, source, self.store, path)
            return
        if isinstance(self.store, GCSFilesStore):
            # GCSFilesStore uploads buf.getvalue(): it needs the bytes in memory.
            data = await self._io.run(source.read_bytes)
            await ensure_awaitable(self.store.persist_file(path, BytesIO(data), info))
            return
        # S3 and FTP stores read the file object in pieces.
        with source.open("rb") as file:
            await ensure_awaitable(self.store.persist_file(path, cast("BytesIO", file), info))

    async def close_spider(self, *args: Any, **kwargs: Any) -> None:
        parent = getattr(super(), "close_spider", None)
        if parent is not None:
            result = parent(*args, **kwargs)
            if result is not None:
                await ensure_awaitable(result)
        await self._io.close()


def _make_local_store(store_uri: str | os.PathLike[str] | None) -> None:
    """Create a FILES_STORE on this machine's file system before Scrapy's
    FSFilesStore does. FSFilesStore checks, then creates
    (``FSFilesStore._mkdir``), so crawler processes started together on one
    new store race and the losers stop with FileExistsError; a creation that
    accepts an existing directory does not race. The directory is the one
    FSFilesStore would use (FilesPipeline._get_store and
    FSFilesStore.__init__): an absolute path, a ``file://`` URI or a path
    without a scheme."""
    if not store_uri:
        return  # no FILES_STORE: FilesPipeline raises NotConfigured, which disables it
    uri = os.fspath(store_uri)
    if not Path(uri).is_absolute() and urlparse(uri).scheme not in ("", "file"):
        return  # s3://, gs://, ftp://...: no directory here
    Path(uri.split("://", 1)[1] if "://" in uri else uri).mkdir(parents=True, exist_ok=True)


def _md5_of_file(path: Path) -> str:
    digest = hashlib.md5()  # FilesPipeline's checksum
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _move_into_store(source: Path, store: FSFilesStore, path: str) -> None:
    """Rename the finished file into the store, refusing any ``file_path()``
    that would land outside it (``..``, an absolute path, a symlink)."""
    base = Path(store.basedir).resolve()
    parts = str(path).split("/")
    if Path(str(path)).is_absolute() or any(part in ("..", "") for part in parts):
        raise FileException(f"file_path() gave {path!r}, which is not a relative path inside FILES_STORE")
    target = Path(store.basedir, *parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    resolved_parent = target.parent.resolve()
    if resolved_parent != base and base not in resolved_parent.parents:
        raise FileException(f"file_path() gave {path!r}, which leads outside FILES_STORE ({base})")
    if target.is_symlink():
        raise FileException(f"file_path() gave {path!r}, which is a symbolic link in FILES_STORE")
    os.replace(source, target)


#: Temporary names of files named by their request (with a resume directory).
_NAMED_PREFIX = "resume-"


def _sweep_old_named(directory: Path, max_age: float) -> None:
    """Remove request-named files older than TLS_CLIENT_RESUME_MAX_AGE: a
    download completed by a run killed before the pipeline stored it, and
    never asked for again."""
    limit = time.time() - max_age
    for path in directory.iterdir():
        if path.name.startswith(_NAMED_PREFIX):
            with suppress(OSError):
                if path.stat().st_mtime < limit:
                    path.unlink()


def _sweep_own(directory: Path) -> None:
    """Remove what this process left (its tag exactly: process 12 must not
    take process 312's files, nor process 12 of another container)."""
    own = own_tag()
    for path in directory.iterdir():
        if tag_of(path.name) == own:
            path.unlink(missing_ok=True)


def _sweep_stale(directory: Path) -> None:
    """Remove temporary files of crawler processes that no longer run.
    Several processes, on several machines or in several containers, may
    share a store: only a file of this machine and this PID namespace,
    whose process this one can see, is judged from here."""
    own = own_tag()
    for path in directory.iterdir():
        tag = tag_of(path.name)
        if (
            tag is not None
            and (tag.host, tag.namespace) == (own.host, own.namespace)
            and tag.pid != own.pid
            and not _process_alive(tag.pid)
        ):
            path.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
