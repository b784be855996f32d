"""The settings of the spiders that download files: TLSFilesPipeline
streams each one to disk, never held in memory, complete or absent.

Enabled per spider (``custom_settings``), not project-wide: the pipeline
adds a ``files`` field to every item that passes through it, and the items
of spiders that download nothing would carry an empty one.
"""

FILES_SETTINGS = {
    "ITEM_PIPELINES": {"scrapy_tlsclient.TLSFilesPipeline": 1},
    "FILES_STORE": "downloads",
}
