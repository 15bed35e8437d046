"""Facts about an attempt: identity (account, keyed hashes, fingerprint, device), enrichment, catalog."""
