"""Money: the price list, the ledger, reservations and budgets, daily roll-ups and the
spend reports."""
