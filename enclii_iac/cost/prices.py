"""The price sheet (``prices.yaml``, package data): every figure the estimate uses, each with its source and date.

>>> sheet = load_prices()
>>> sheet.entry("hetzner.ax41-nvme").monthly
Decimal('37.30')
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import AnyHttpUrl, Field, ValidationError

from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.models._base import StrictModel

Currency = Literal["EUR", "USD"]
MAX_AGE_DAYS = 180
"""A sheet older than this is stale: its figures must be re-checked against their sources."""


class PriceEntry(StrictModel):
    """One published price: an amount per unit and month, where it was published and when it was stated."""

    currency: Currency
    monthly: Decimal = Field(ge=0, description="Amount per unit and month (a fraction for `hetzner.cloud.backup`).")
    setup: Decimal = Field(Decimal(0), ge=0, description="One-off setup fee per unit. Default: none.")
    unit: str = Field(min_length=1)
    free: Decimal = Field(Decimal(0), ge=0, description="Units included free per month. Default: none.")
    cpu: Decimal | None = Field(None, gt=0, description="vCPUs of an instance type (rate cards).")
    memory_gb: Decimal | None = Field(None, gt=0, description="Memory of an instance type in GB (rate cards).")
    storage_gb: Decimal | None = Field(None, gt=0, description="Local disk of a server in GB (usable).")
    source: AnyHttpUrl
    date: dt.date
    basis: Literal["retrieved", "recalled"] = Field(
        description="retrieved: read from the source on `date`; recalled: written from the published rate card as "
        "known to the author, to be re-checked."
    )
    note: str = ""


class CurrencyRate(StrictModel):
    rate: Decimal = Field(gt=0)
    source: AnyHttpUrl
    date: dt.date
    basis: Literal["retrieved", "recalled"]
    note: str = ""


class PriceSheet(StrictModel):
    """Every price by key (``hetzner.ax41-nvme``, ``cloudflare.r2.storage``...), dated as a whole by ``as_of``."""

    as_of: dt.date
    currency_rates: dict[str, CurrencyRate]
    entries: dict[str, PriceEntry]

    def entry(self, key: str) -> PriceEntry:
        try:
            return self.entries[key]
        except KeyError:
            raise SpecError([SpecIssue("price sheet", key, f"no such entry (known: {', '.join(sorted(self.entries))})")]
                            ) from None

    def eur_usd(self) -> Decimal:
        return self.currency_rates["EUR_USD"].rate

    def convert(self, amount: Decimal, from_: Currency, to: Currency, eur_usd: Decimal | None = None) -> Decimal:
        """``amount`` in ``to`` (exact Decimal arithmetic, no rounding)."""
        if from_ == to:
            return amount
        rate = eur_usd if eur_usd is not None else self.eur_usd()
        return amount * rate if from_ == "EUR" else amount / rate

    def age_days(self, today: dt.date | None = None) -> int:
        return ((today or dt.date.today()) - self.as_of).days

    def stale(self, today: dt.date | None = None) -> bool:
        """True when the sheet is older than ``MAX_AGE_DAYS`` (or one entry is older than the sheet's date)."""
        oldest = min([self.as_of, *(e.date for e in self.entries.values())])
        return ((today or dt.date.today()) - oldest).days > MAX_AGE_DAYS


def parse_prices(text: str, source: str = "prices.yaml") -> PriceSheet:
    """A price sheet from YAML text; a SpecError naming the entry and field otherwise."""
    data = yaml.safe_load(text)
    try:
        return PriceSheet.model_validate(data)
    except ValidationError as exc:
        raise SpecError([SpecIssue(source, ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
                        ) from None


@lru_cache(maxsize=1)
def load_prices() -> PriceSheet:
    """The price sheet shipped with the package."""
    text = resources.files("enclii_iac.cost").joinpath("prices.yaml").read_text(encoding="utf-8")
    return parse_prices(text, "enclii_iac/cost/prices.yaml")
