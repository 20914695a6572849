"""The ledger: tamper-evident logs, keys, tenants and the services over them."""
