"""The one memory unit of every page, the API's texts and the schema.

Memory is counted in binary units and written as vendors sell memory: 1 GB here is 1024³ bytes (a GiB),
so a "16 GB" card or "32 GB" of RAM is 16 or 32 of them, and the form's GB fields mean the same unit.
Bandwidths stay in decimal GB/s (10⁹ bytes per second), as datasheets give them.
"""

from __future__ import annotations

from advisor.core.units import GIB, KIB, MIB

UNITS = (("GB", GIB), ("MB", MIB), ("KB", KIB))


def memory(n: float | None) -> str:
    """A byte count in the site's unit, with a no-break space before it (as ``filesizeformat``).

    >>> memory(12 * 1024**3), memory(11_264_000_000), memory(300 * 1024**2), memory(2048 * 1024**3), memory(17)
    ('12.0\xa0GB', '10.5\xa0GB', '300.0\xa0MB', '2,048.0\xa0GB', '17\xa0bytes')
    """
    if n is None or n == "":
        return ""
    n = float(n)
    for unit, size in UNITS:
        if abs(n) >= size:
            value = n / size
            return f"{value:,.1f}\xa0{unit}"
    return f"{n:,.0f}\xa0bytes"
