"""Demo data for the local test hosts (inventories/testhost.py): example.test names only.

`make demo` creates the host "demo" at 10.213.249.2 and a receiving MX "demo-mx" at 10.213.250.2 for the
domain remote.test, so the demo can show what a receiver concludes about mail the server sends.
"""

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

# The demo host's address, published in the zone (A, SPF) that build/dns/demo/example.test.zone shows.
mail_ipv4 = ["10.213.249.2"]
dns_dmarc_policy = "reject"

# remote.test is served by the demo's receiving MX (a test host); nothing else leaves the test network.
postfix_transport_maps = {"remote.test": "smtp:[10.213.250.2]:25"}

# .test names are published nowhere: auditing them would only report what is known.
mail_dns_preflight = "off"
