"""Spiders for the distributed settings (settings_distributed): they need
scrapy-redis, which the project's other spiders do not."""
