"""What the page tests read from a response."""

from __future__ import annotations

import re
from typing import Any

HTMX = {"HX-Request": "true"}


def text(response: Any) -> str:
    return response.content.decode()


def result_ids(html: str) -> list[str]:
    return re.findall(r'<li class="rec fit-[a-z]+" data-model="([^"]+)"', html)
