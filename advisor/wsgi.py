from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
application = get_wsgi_application()

# Each worker works out the catalog's per-model tables and sets up the collector before its first request
# (issue 18: every visitor brings a different machine, so first sights of a model would land on visitors).
from advisor.warmup import prepare_process  # noqa: E402  (needs the app registry set up above)

prepare_process()
