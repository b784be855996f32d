"""The example project as one process of a fleet: scrapy-redis keeps the
request queue and the duplicate filter in Redis, so any number of
``scrapy crawl`` processes, on one box or many, share one crawl.

    SCRAPY_SETTINGS_MODULE=example_project.settings_distributed \\
    REDIS_URL=redis://127.0.0.1:6379/0 scrapy crawl shop

Everything in ``settings`` stays as it is: the download handler, the
middlewares and TLSFilesPipeline need nothing else for scale-out.
"""

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import SPIDER_MODULES

SPIDER_MODULES = [*SPIDER_MODULES, "example_project.distributed_spiders"]

# The shared queue and duplicate filter (request fingerprints in a Redis set).
SCHEDULER = "scrapy_redis.scheduler.Scheduler"
DUPEFILTER_CLASS = "scrapy_redis.dupefilter.RFPDupeFilter"
# Without it, the first process to close (finished, idle, or stopped by an
# operator) deletes the queue and the seen-set that the others still use.
SCHEDULER_PERSIST = True

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# Seconds a process waits with nothing to do before it closes (the others
# carry on). 0: wait for new start URLs forever, as a permanent worker.
MAX_IDLE_TIME_BEFORE_CLOSE = 10

# Each process opens its own connections: the site sees N times these.
# Divide a per-site budget by the number of processes.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
