"""The monthly bill of an inventory, and its showback per project and environment.

Every figure is exact ``Decimal`` arithmetic until the end: each line of the bill is rounded to cents, the total
is the sum of the rounded lines, and the showback parts are rounded with the largest-remainder method, so they add
up to the total to the cent.

Showback: the servers (the pool: dedicated hosts, cloud servers, their backups, addresses and volumes) are shared
by requests. The pool's price is split between CPU, memory and storage by the usage assumptions' weights; each
dimension's share is priced per unit of the nodes' capacity. An environment pays for what its pods request
(Deployments' replicas and claims), the platform for what the kubelet and the platform's own pods keep back, and
what nobody requests is idle. R2 and the tunnel are the platform's; custom hostnames beyond the free ones are
shared by the environments that serve them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

from enclii_iac.cost.inventory import Bucket, Inventory
from enclii_iac.cost.prices import Currency, PriceSheet, load_prices
from enclii_iac.models.capacity import capacity_report
from enclii_iac.models.cost import UsageAssumptions
from enclii_iac.models.platform import PlatformSpec

CENT = Decimal("0.01")
GIB = Decimal(2**30)
GB = Decimal(10**9)
MILLION = Decimal(1_000_000)
AX41 = "hetzner.ax41-nvme"

PartKind = Literal["environment", "platform", "idle"]


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def largest_remainder(exact: Mapping[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """``exact`` rounded to cents so that the parts add up to ``total`` (in cents) exactly: the parts are scaled
    to ``total``, floored, and the cents left over go to the largest remainders (ties: by key)."""
    keys = sorted(exact)
    whole = sum(exact.values(), Decimal(0))
    if not keys:
        return {}
    if whole == 0:
        scaled = {k: (total if i == 0 else Decimal(0)) for i, k in enumerate(keys)}
    else:
        scaled = {k: exact[k] * total / whole for k in keys}
    floors = {k: scaled[k].quantize(CENT, rounding=ROUND_FLOOR) for k in keys}
    left = int(((total - sum(floors.values(), Decimal(0))) / CENT).to_integral_value())
    for k in sorted(keys, key=lambda k: (-(scaled[k] - floors[k]), k))[:left]:
        floors[k] += CENT
    return floors


@dataclass(frozen=True)
class Line:
    """One line of the bill: a priced item, its quantity and its monthly amount in the report's currency."""

    key: str
    item: str
    quantity: Decimal
    unit: str
    exact: Decimal
    pool: bool

    @property
    def amount(self) -> Decimal:
        return cents(self.exact)


@dataclass(frozen=True)
class Part:
    """One part of the showback: an environment, the platform's own share or the idle capacity.

    ``amount`` is its part of the bill (the parts add up to the total). For an environment, ``requested`` is what
    its requests cost at the pool's unit prices and ``quota`` what its quota (the most it may request) would cost."""

    kind: PartKind
    project: str
    environment: str
    amount: Decimal
    requested: Decimal = Decimal(0)
    quota: Decimal = Decimal(0)
    cpu_m: int = 0
    memory: int = 0
    storage: int = 0
    hostnames: int = 0
    contributors: tuple[tuple[str, Decimal], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.project}/{self.environment}" if self.kind == "environment" else self.kind


@dataclass(frozen=True)
class Bill:
    """The monthly estimate of one stack."""

    currency: Currency
    lines: tuple[Line, ...]
    parts: tuple[Part, ...]
    one_off: Decimal
    unit_prices: dict[str, Decimal]
    assumptions: dict[str, str]
    warnings: tuple[str, ...] = field(default=())
    reference_pricing: bool = False
    """True when the stack declares no servers (a preview on production's cluster): the environments' figures are
    then priced at one reference AX41's unit prices and are not part of this stack's total."""

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    def environments(self) -> list[Part]:
        return [p for p in self.parts if p.kind == "environment"]

    def part(self, key: str) -> Part:
        for p in self.parts:
            if p.key == key:
                return p
        raise KeyError(key)

    def projects(self) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        """``{project: (amount, requested, quota)}`` summed over its environments."""
        out: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        for p in self.environments():
            a, r, q = out.get(p.project, (Decimal(0), Decimal(0), Decimal(0)))
            out[p.project] = (a + p.amount, r + p.requested, q + p.quota)
        return out


def _r2_lines(buckets: Iterable[Bucket], sheet: PriceSheet, usage: UsageAssumptions,
              conv: Mapping[str, Decimal]) -> tuple[list[Line], dict[str, str]]:
    standard = ia = class_a = class_b = Decimal(0)
    notes: dict[str, str] = {}
    for b in buckets:
        u = usage.bucket(b.name)
        expiring = [r.expire_days for r in b.rules if r.expire_days is not None]
        retention = Decimal(max(expiring) if expiring else u.retained_days)
        transitions = [r.infrequent_after_days for r in b.rules if r.infrequent_after_days is not None]
        stored = u.ingest_gb_per_day * retention
        if b.storage_class == "InfrequentAccess":
            ia_gb = stored
        elif transitions and min(transitions) < retention:
            ia_gb = u.ingest_gb_per_day * (retention - min(transitions))
        else:
            ia_gb = Decimal(0)
        standard += stored - ia_gb
        ia += ia_gb
        class_a += u.class_a_per_month
        class_b += u.class_b_per_month
        how = f"expiry after {retention} days" if expiring else f"no expiry rule: {retention} days of growth"
        notes[f"r2:{b.name}"] = (f"{u.ingest_gb_per_day} GB/day, {how} -> {stored} GB stored ({ia_gb} GB infrequent "
                                 f"access); {u.class_a_per_month} class A and {u.class_b_per_month} class B ops/month")
    lines = []
    for key, item, qty, scale in (
        ("cloudflare.r2.storage", "R2 Standard storage", standard, Decimal(1)),
        ("cloudflare.r2.storage-ia", "R2 Infrequent Access storage", ia, Decimal(1)),
        ("cloudflare.r2.class-a", "R2 class A operations", class_a, MILLION),
        ("cloudflare.r2.class-b", "R2 class B operations", class_b, MILLION),
    ):
        e = sheet.entry(key)
        units = qty / scale
        billed = max(units - e.free, Decimal(0))
        lines.append(Line(key, item, units, e.unit, billed * e.monthly * conv[e.currency], pool=False))
    return lines, notes


def estimate(
    spec: PlatformSpec,
    inventory: Inventory,
    *,
    sheet: PriceSheet | None = None,
    usage: UsageAssumptions | None = None,
    currency: Currency | None = None,
    eur_usd: Decimal | None = None,
) -> Bill:
    """The monthly bill of ``inventory`` (what ``spec``'s stack declares) and its showback."""
    sheet = sheet or load_prices()
    usage = usage or UsageAssumptions()
    cur: Currency = currency or (spec.budget.currency if spec.budget is not None else "USD")
    conv = {c: sheet.convert(Decimal(1), c, cur, eur_usd) for c in ("EUR", "USD")}
    warnings: list[str] = []
    lines: list[Line] = []
    one_off = Decimal(0)
    storage_capacity = Decimal(0)

    ax41 = sheet.entry(AX41)
    for name in inventory.dedicated:
        lines.append(Line(AX41, name, Decimal(1), ax41.unit, ax41.monthly * conv[ax41.currency], pool=True))
        one_off += ax41.setup * conv[ax41.currency]
        storage_capacity += (ax41.storage_gb or Decimal(0)) * GB
    for server in inventory.cloud:
        key = f"hetzner.cloud.{server.server_type}"
        if key not in sheet.entries:
            warnings.append(f"{server.name}: server type {server.server_type} has no price in the sheet; left out "
                            "of the bill (add hetzner.cloud.<type> to the sheet)")
            continue
        e = sheet.entry(key)
        price = e.monthly * conv[e.currency]
        lines.append(Line(key, server.name, Decimal(1), e.unit, price, pool=True))
        storage_capacity += (e.storage_gb or Decimal(0)) * GB
        if server.backups:
            b = sheet.entry("hetzner.cloud.backup")
            lines.append(Line("hetzner.cloud.backup", f"{server.name} backups", b.monthly, b.unit,
                              price * b.monthly, pool=True))
    if inventory.primary_ipv4:
        e = sheet.entry("hetzner.cloud.primary-ipv4")
        n = Decimal(inventory.primary_ipv4)
        lines.append(Line("hetzner.cloud.primary-ipv4", "primary IPv4 addresses", n, e.unit,
                          n * e.monthly * conv[e.currency], pool=True))
    for name, gb in inventory.volumes_gb:
        e = sheet.entry("hetzner.cloud.volume")
        lines.append(Line("hetzner.cloud.volume", name, Decimal(gb), e.unit, gb * e.monthly * conv[e.currency],
                          pool=True))
        storage_capacity += Decimal(gb) * GB
    assumptions: dict[str, str] = {}
    if inventory.buckets:
        r2, notes = _r2_lines(inventory.buckets, sheet, usage, conv)
        lines += r2
        assumptions.update(notes)
    saas = sheet.entry("cloudflare.saas.hostname")
    saas_line = None
    if inventory.hostnames:
        n = Decimal(len(inventory.hostnames))
        saas_line = Line("cloudflare.saas.hostname", "custom hostnames (Cloudflare for SaaS)", n, saas.unit,
                         max(n - saas.free, Decimal(0)) * saas.monthly * conv[saas.currency], pool=False)
        lines.append(saas_line)
    if inventory.tunnels:
        t = sheet.entry("cloudflare.tunnel")
        n = Decimal(inventory.tunnels)
        lines.append(Line("cloudflare.tunnel", "Cloudflare Tunnel", n, t.unit, n * t.monthly * conv[t.currency],
                          pool=False))

    # --- unit prices of the pool ----------------------------------------------------------------------------
    pool = sum((line.exact for line in lines if line.pool), Decimal(0))
    report = capacity_report(spec.tenants, spec.cluster, spec.hosts)
    node_cpu = Decimal(sum(n.cpu_m for n in report.nodes))
    node_mem = Decimal(sum(n.memory for n in report.nodes))
    reference = pool == 0
    price_base = pool
    if reference:
        price_base = ax41.monthly * conv[ax41.currency]
        storage_capacity = (ax41.storage_gb or Decimal(0)) * GB
    unit = {
        "cpu": price_base * usage.cpu_weight / node_cpu if node_cpu else Decimal(0),
        "memory": price_base * usage.memory_weight / node_mem if node_mem else Decimal(0),
        "storage": price_base * usage.storage_weight / storage_capacity if storage_capacity else Decimal(0),
    }
    platform_cpu = node_cpu - report.budget_cpu_m
    platform_mem = node_mem - report.budget_memory

    envs: dict[tuple[str, str], list[int]] = {}
    contributors: dict[tuple[str, str], list[tuple[str, Decimal]]] = {}
    for w in inventory.workloads:
        acc = envs.setdefault((w.project, w.environment), [0, 0, 0])
        acc[0] += w.cpu_m
        acc[1] += w.memory
        acc[2] += w.storage
        cost = w.cpu_m * unit["cpu"] + w.memory * unit["memory"] + w.storage * unit["storage"]
        contributors.setdefault((w.project, w.environment), []).append((f"{w.kind} {w.name}", cost))
    quotas = {(q.project, q.environment): q for q in inventory.quotas}
    for env_key in quotas:
        envs.setdefault(env_key, [0, 0, 0])
    host_counts: dict[tuple[str, str], int] = {}
    for h in inventory.hostnames:
        host_counts[(h.project, h.environment)] = host_counts.get((h.project, h.environment), 0) + 1
    saas_exact = saas_line.exact if saas_line is not None else Decimal(0)
    n_hosts = len(inventory.hostnames)

    def hostname_share(key: tuple[str, str]) -> Decimal:
        return saas_exact * host_counts.get(key, 0) / n_hosts if n_hosts else Decimal(0)

    # oversubscription: the tenants' requests in a dimension beyond their budget are scaled down to fit it
    total_cpu = sum(v[0] for v in envs.values())
    total_mem = sum(v[1] for v in envs.values())
    total_sto = sum(v[2] for v in envs.values())
    budget_sto = storage_capacity
    scale = {
        "cpu": min(Decimal(1), Decimal(report.budget_cpu_m) / total_cpu) if total_cpu else Decimal(1),
        "memory": min(Decimal(1), Decimal(report.budget_memory) / total_mem) if total_mem else Decimal(1),
        "storage": min(Decimal(1), budget_sto / total_sto) if total_sto else Decimal(1),
    }
    for dim, s in scale.items():
        if s < 1:
            warnings.append(f"the environments request more {dim} than the tenants' share of the nodes; their "
                            f"showback shares of {dim} are scaled by {s:.4f} to fit")
    exact_parts: dict[str, Decimal] = {}
    figures: dict[str, tuple[str, str, Decimal, Decimal, tuple[int, int, int]]] = {}
    for (project, environment), (cpu, mem, sto) in sorted(envs.items()):
        share = hostname_share((project, environment))
        requested = cpu * unit["cpu"] + mem * unit["memory"] + sto * unit["storage"] + share
        q = quotas.get((project, environment))
        quota = share + ((q.cpu_m * unit["cpu"] + q.memory * unit["memory"] + q.storage * unit["storage"])
                         if q is not None else Decimal(0))
        partition = share
        if not reference:
            partition += (cpu * unit["cpu"] * scale["cpu"] + mem * unit["memory"] * scale["memory"]
                          + sto * unit["storage"] * scale["storage"])
        exact_parts[f"{project}/{environment}"] = partition
        figures[f"{project}/{environment}"] = (project, environment, requested, quota, (cpu, mem, sto))
    platform_exact = sum((line.exact for line in lines if not line.pool and line is not saas_line), Decimal(0))
    platform_exact += saas_exact - sum((hostname_share(k) for k in host_counts if k in envs), Decimal(0))
    if not reference:
        platform_exact += platform_cpu * unit["cpu"] + platform_mem * unit["memory"]
    total_exact = sum((line.exact for line in lines), Decimal(0))
    exact_parts["platform"] = platform_exact
    exact_parts["idle"] = max(total_exact - sum(exact_parts.values(), Decimal(0)), Decimal(0))
    total = sum((line.amount for line in lines), Decimal(0))
    rounded = largest_remainder(exact_parts, total)

    parts: list[Part] = []
    for part_key, (project, environment, requested, quota, (cpu, mem, sto)) in figures.items():
        top = sorted(contributors.get((project, environment), []), key=lambda c: (-c[1], c[0]))
        parts.append(Part(
            "environment", project, environment, rounded[part_key], requested=cents(requested), quota=cents(quota),
            cpu_m=cpu, memory=mem, storage=sto, hostnames=host_counts.get((project, environment), 0),
            contributors=tuple((n, cents(c)) for n, c in top),
        ))
    parts.append(Part("platform", "", "", rounded["platform"], cpu_m=int(platform_cpu), memory=int(platform_mem)))
    parts.append(Part("idle", "", "", rounded["idle"]))
    assumptions.update({
        "eurUsd": str(eur_usd if eur_usd is not None else sheet.eur_usd()),
        "weights": f"cpu {usage.cpu_weight}, memory {usage.memory_weight}, storage {usage.storage_weight}",
        "jobs": "CronJobs and Jobs run now and then: left out of the request-based figures, inside the quotas",
        "priceSheet": f"enclii_iac/cost/prices.yaml as of {sheet.as_of}",
    })
    return Bill(
        currency=cur,
        lines=tuple(lines),
        parts=tuple(parts),
        one_off=cents(one_off),
        unit_prices={
            "cpu": cents(unit["cpu"] * 1000),
            "memoryGi": cents(unit["memory"] * GIB),
            "storageGb": cents(unit["storage"] * GB),
        },
        assumptions=assumptions,
        warnings=tuple(warnings),
        reference_pricing=reference,
    )
