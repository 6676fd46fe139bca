"""What the same capacity costs on Railway, Render and Heroku, from their rate cards in the price sheet.

The capacity is aggregate (vCPUs, GB of memory, GB of volumes), so each platform is priced at the cheapest way
its rate card sells that much: Railway by usage (per vCPU, GB and volume GB, plus one Pro seat), Render and
Heroku by whole instances of one type (the cheapest count of one type that covers both the CPU and the memory;
Heroku publishes memory only, so its dynos are counted by memory). Real services need at least one instance each,
so per-service packing costs more than this aggregate; no figure here is a claimed saving.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from enclii_iac.cost.estimate import cents
from enclii_iac.cost.prices import Currency, PriceSheet, load_prices


@dataclass(frozen=True)
class Offer:
    platform: str
    how: str
    monthly: Decimal
    keys: tuple[str, ...]


def _ceil(x: Decimal) -> Decimal:
    return x.to_integral_value(rounding=ROUND_CEILING)


def rate_cards(cpu: Decimal, memory_gb: Decimal, volume_gb: Decimal = Decimal(0), *,
               sheet: PriceSheet | None = None, currency: Currency = "USD") -> list[Offer]:
    """The cheapest offer of each platform for ``cpu`` vCPUs, ``memory_gb`` GB and ``volume_gb`` GB of volumes."""
    sheet = sheet or load_prices()

    def price(key: str) -> Decimal:
        e = sheet.entry(key)
        return sheet.convert(e.monthly, e.currency, currency)

    offers = [Offer(
        "Railway", f"{cpu:.2f} vCPU x {price('railway.vcpu'):.2f} + {memory_gb:.2f} GB x "
        f"{price('railway.memory'):.2f} + {volume_gb:.2f} GB volumes + 1 Pro seat",
        cents(cpu * price("railway.vcpu") + memory_gb * price("railway.memory")
              + volume_gb * price("railway.volume") + price("railway.pro")),
        ("railway.vcpu", "railway.memory", "railway.volume", "railway.pro"),
    )]
    for name, prefix, disk in (("Render", "render.", "render.disk"), ("Heroku", "heroku.", "")):
        best: Offer | None = None
        for key, e in sorted(sheet.entries.items()):
            if not key.startswith(prefix) or e.memory_gb is None:
                continue
            count = _ceil(memory_gb / e.memory_gb)
            if e.cpu is not None:
                count = max(count, _ceil(cpu / e.cpu))
            count = max(count, Decimal(1))
            extra = volume_gb * price(disk) if disk else Decimal(0)
            total = cents(count * price(key) + extra)
            offer = Offer(name, f"{count} x {key.split('.', 1)[1]}" + (f" + {volume_gb:.2f} GB disk" if disk else ""),
                          total, (key, disk) if disk else (key,))
            if best is None or offer.monthly < best.monthly:
                best = offer
        if best is not None:
            offers.append(best)
    return offers
