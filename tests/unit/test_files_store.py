"""A local FILES_STORE is created before Scrapy's FSFilesStore looks at it,
so crawler processes started together on one new store do not race."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.pipelines.files import FSFilesStore
from scrapy.utils.test import get_crawler

from scrapy_tlsclient import TLSFilesPipeline
from scrapy_tlsclient.pipelines import _make_local_store


@pytest.mark.parametrize("form", ["absolute", "file URI", "relative"])
def test_a_local_store_is_made_with_its_parents(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "a" / "b" / "store"
    uri = {"absolute": str(target), "file URI": f"file://{target}", "relative": "a/b/store"}[form]
    _make_local_store(uri)
    assert target.is_dir()
    _make_local_store(uri)  # made already: nothing to do, no error
    assert target.is_dir()


def test_a_remote_or_missing_store_makes_no_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for uri in ("s3://bucket/files", "gs://bucket/files", "ftp://user:pass@host/files", "", None):
        _make_local_store(uri)
    assert list(tmp_path.iterdir()) == []


def test_without_files_store_the_pipeline_is_disabled_as_scrapys_is() -> None:
    """No FILES_STORE: NotConfigured (Scrapy then leaves the pipeline out),
    not an error of this module's."""
    with pytest.raises(NotConfigured):
        TLSFilesPipeline.from_crawler(get_crawler(settings_dict={}))


def test_the_store_exists_before_fsfilesstore_checks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FSFilesStore creates its directory only if it does not exist (check,
    then create): when it looks, the pipeline has made it already, so a
    second process doing the same at that moment cannot make it fail."""
    seen: list[tuple[Path, bool]] = []
    mkdir = FSFilesStore._mkdir

    def recording(self: FSFilesStore, dirname: Path, domain: object = None) -> None:
        seen.append((dirname, dirname.is_dir()))
        mkdir(self, dirname, domain)  # type: ignore[arg-type]

    monkeypatch.setattr(FSFilesStore, "_mkdir", recording)
    store = tmp_path / "new" / "store"
    crawler = get_crawler(settings_dict={"FILES_STORE": str(store)})
    pipeline = TLSFilesPipeline.from_crawler(crawler)
    assert isinstance(pipeline.store, FSFilesStore)
    assert seen == [(store, True)]
