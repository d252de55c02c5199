"""Demo data for the local test hosts (inventories/testhost.py): example.test names only."""

mail_domains = [
    {
        "domain": "example.test",
        "mailboxes": [
            {"address": "alice@example.test", "name": "Alice Demo", "quota_mb": 1024},
            {"address": "bob@example.test", "name": "Bob Demo", "quota_mb": 1024},
            {"address": "postmaster@example.test", "name": "Postmaster", "quota_mb": 256},
        ],
        "aliases": [
            {"address": "info@example.test", "goto": ["alice@example.test"]},
            {"address": "team@example.test", "goto": ["alice@example.test", "bob@example.test"]},
            {"address": "abuse@example.test", "goto": ["postmaster@example.test"]},
        ],
        "alias_domains": ["example-alias.test"],
    },
]

# .test names are published nowhere: auditing them would only report what is known.
mail_dns_preflight = "off"
