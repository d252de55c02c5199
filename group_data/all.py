"""Operator-facing settings for every host. Each key is documented here; defaults live in deploys/*.py.

Required keys (no safe default) are set here or per host in the inventory. Example values use
example.org; replace them with your own.
"""

# The server's fully qualified host name: HELO name, TLS certificate name, MX target and PTR.
mail_hostname = "mail.example.org"

# IANA timezone of the server (default "UTC").
mail_timezone = "UTC"
