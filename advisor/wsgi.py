from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
application = get_wsgi_application()

# Each worker works out the catalog's per-model tables before its first request (issue 18: every visitor
# brings a different machine, so first sights of a model would otherwise land on visitors).
from advisor.warmup import warm_catalog  # noqa: E402  (needs the app registry set up above)

warm_catalog()
