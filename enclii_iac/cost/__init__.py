"""Cost: the price sheet, the monthly estimate of a stack from what it declares, showback and budget caps.

>>> from enclii_iac.cost import stack_bill
>>> bill = stack_bill("stacks/production")
>>> bill.total, [(p.key, p.amount) for p in bill.parts]
"""

from enclii_iac.cost.budget import budget_issues, check_budgets
from enclii_iac.cost.estimate import Bill, Line, Part, estimate, largest_remainder
from enclii_iac.cost.inventory import Inventory, inventory_from_records, inventory_from_spec
from enclii_iac.cost.prices import PriceEntry, PriceSheet, load_prices, parse_prices
from enclii_iac.cost.report import stack_bill

__all__ = [
    "Bill",
    "Inventory",
    "Line",
    "Part",
    "PriceEntry",
    "PriceSheet",
    "budget_issues",
    "check_budgets",
    "estimate",
    "inventory_from_records",
    "inventory_from_spec",
    "largest_remainder",
    "load_prices",
    "parse_prices",
    "stack_bill",
]
