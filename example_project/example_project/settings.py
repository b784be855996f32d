"""An ordinary Scrapy project switched to scrapy-tlsclient."""

BOT_NAME = "example_project"
SPIDER_MODULES = ["example_project.spiders"]
NEWSPIDER_MODULE = "example_project.spiders"

# Every http/https request through tls-client, as a browser profile.
DOWNLOAD_HANDLERS = {
    "http": "scrapy_tlsclient.TLSClientDownloadHandler",
    "https": "scrapy_tlsclient.TLSClientDownloadHandler",
    # WebSockets (docs/websocket.rst)
    "ws": "scrapy_tlsclient.TLSClientDownloadHandler",
    "wss": "scrapy_tlsclient.TLSClientDownloadHandler",
}
# Browser headers that match the profile (after Scrapy's header middlewares).
DOWNLOADER_MIDDLEWARES = {"scrapy_tlsclient.TLSClientMiddleware": 950}
# Streamed responses are cancelled as soon as their callback is done.
SPIDER_MIDDLEWARES = {"scrapy_tlsclient.TLSClientStreamMiddleware": 1000}

TLS_CLIENT_PROFILE = "chrome_150"

ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False

# TLSFilesPipeline (files streamed to disk) is enabled by the spiders that
# download files, in their custom_settings: example_project/files.py.
