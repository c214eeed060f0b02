"""The one memory unit of every page, the API's texts and the schema.

Memory is counted in binary units and written as vendors sell memory: 1 GB here is 1024³ bytes (a GiB),
so a "16 GB" card or "32 GB" of RAM is 16 or 32 of them, and the form's GB fields mean the same unit.
Bandwidths stay in decimal GB/s (10⁹ bytes per second), as datasheets give them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

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


PLACES = tuple(Decimal(1).scaleb(-p) for p in range(5))  # 1, 0.1, 0.01, 0.001, 0.0001


def fixed(x: float | None, places: int) -> str:
    """``x`` with ``places`` decimals (0-4), as the template filter ``floatformat:places`` writes it: rounded half up
    from the number's shortest decimal form, no sign on a zero. Pages that show hundreds of numbers format them
    here, where a call costs a tenth of the filter's.

    >>> fixed(0.25, 1), fixed(2.675, 2), fixed(12, 1), fixed(12.5, 0), fixed(-0.04, 1), fixed(None, 1)
    ('0.3', '2.68', '12.0', '13', '0.0', '')
    """
    if x is None:
        return ""
    d = Decimal(str(x)).quantize(PLACES[places], ROUND_HALF_UP)
    return f"{d.copy_abs() if d.is_zero() else d:f}"
