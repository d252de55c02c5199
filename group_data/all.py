"""Operator-facing settings for every host. Each key is documented here; defaults live in deploys/*.py.

Required keys (no safe default) are set here or per host in the inventory. Example values use
example.org; replace them with your own.
"""

# The server's fully qualified host name: HELO name, TLS certificate name, MX target and PTR.
mail_hostname = "mail.example.org"

# IANA timezone of the server (default "UTC").
mail_timezone = "UTC"

# The mail domains this server receives for. Per domain:
#   domain         the domain name
#   description    shown in PostfixAdmin (default: the domain)
#   mailboxes      [{"address": ..., "name": ..., "quota_mb": 0 for unlimited,
#                    "password_env": NAME of an environment variable on the control machine holding the
#                    password; leave it out and a password is generated on the host, stored 0600 in
#                    /etc/mailforge/mailboxes/<address>}]
#   aliases        [{"address": "info@example.org", "goto": ["alice@example.org", "bob@example.net"]}]
#   alias_domains  ["example.net"]: every user@example.net reaches user@example.org
#   catch_all      "alice@example.org": receives mail for unknown addresses of the domain
mail_domains = [
    {
        "domain": "example.org",
        "mailboxes": [{"address": "postmaster@example.org", "name": "Postmaster", "quota_mb": 1024}],
        "aliases": [{"address": "abuse@example.org", "goto": ["postmaster@example.org"]}],
    },
]

# --- Postfix (defaults in deploys/postfix.py)
# postfix_message_size_limit = 52428800   # bytes
# postfix_mydestination = ["$myhostname", "localhost"]  # local Unix-account domains; never a virtual domain
# postfix_transport_maps = {}             # {"example.net": "smtp:[192.0.2.10]:25"} static routes
# postfix_hide_submission_client = True   # mail sent on 587/465 does not carry the user's IP address in Received

# --- Dovecot (defaults in deploys/dovecot.py)
# dovecot_vmail_uid = 2000
# dovecot_vmail_gid = 2000
# dovecot_mail_root = "/var/vmail"

# --- PostfixAdmin (defaults in deploys/postfixadmin.py)
# postfixadmin_password_scheme = "ARGON2I"   # or "BLF-CRYPT"

# --- TLS (defaults in deploys/tls.py)
# tls_mode = "selfsigned"   # a host-local CA signs the server certificate
# The one TLS policy of Postfix, Dovecot and Nginx (README "Security"; default Mozilla intermediate):
# tls_min_protocol = "TLSv1.2"           # or "TLSv1.3" (port 25 keeps 1.2: its TLS is opportunistic)
# tls_ciphers = ["ECDHE-RSA-AES128-GCM-SHA256", ...]   # TLS 1.2 suites, ECDHE with AEAD only
# tls_curves = ["X25519", "prime256v1", "secp384r1"]
# tls_prefer_server_ciphers = True       # the server orders the suites (Mozilla: False; README "Security")

# --- DNS (defaults in deploys/dns.py); the zones to publish are written to build/dns/<inventory host>/<domain>.zone
# mail_ipv4 = ["203.0.113.10"]          # public addresses: A/AAAA, SPF, PTR
# mail_ipv6 = []
# dns_dmarc_policy = "quarantine"      # none | quarantine | reject
# dns_dmarc_rua = ["dmarc-reports@example.org"]
# dns_caa_issuers = ["letsencrypt.org"]
# mail_dns_preflight = "warn"          # off | warn | enforce (errors stop the run before any host is touched)
# dns_preflight_nameservers = []       # "IP[:PORT]"; empty: /etc/resolv.conf of the control machine

# --- DKIM (defaults in deploys/dkim.py): one RSA key per domain, generated on the host once.
# dkim_selector = "mail"     # change to rotate: the old key stays on the host until you remove it
# dkim_key_bits = 2048

# --- Relay host (smarthost) for clouds that block outbound port 25 (defaults in deploys/postfix.py).
# postfix_relay_host = "smtp.sendgrid.net"
# postfix_relay_port = 587                       # or 2525
# postfix_relay_username = "apikey"
# postfix_relay_password_env = "RELAY_PASSWORD"  # an environment variable on the control machine...
# postfix_relay_password_file = "~/.secrets/relay"   # ...or a file there; never commit either
# dns_relay_spf_include = "sendgrid.net"         # added to the SPF record as include:
# postfix_outbound_tls = "may"                   # or "dane" (needs a DNSSEC-validating resolver)

# --- Web tier (defaults in deploys/nginx_php.py, postfixadmin_ui.py, webmail.py, certbot.py)
# postfixadmin_hostname = "postfixadmin.example.org"   # default: postfixadmin.<parent domain of mail_hostname>
# webmail_hostname = "webmail.example.org"             # default: webmail.<parent domain of mail_hostname>
# postfixadmin_superadmin = "admin@example.org"        # default: admin@<first mail domain>
# postfixadmin_superadmin_password_env = "PFA_ADMIN_PASSWORD"
#     (unset: generated on the host, /etc/mailforge/postfixadmin/superadmin)
# webmail = "roundcube"                  # roundcube (Debian) | snappymail | rainloop (upstream archives) | none
# snappymail_version = "2.38.2"         # snappymail/rainloop: the pinned release (defaults: 2.38.2 / 1.17.0)
# snappymail_archive_url = "https://github.com/the-djmaze/snappymail/releases/download/v2.38.2/snappymail-2.38.2.tar.gz"
# snappymail_archive_sha256 = "71f1d8a9..."   # set all three together (rainloop_*: the same keys); a wrong SHA-256
#     stops the run with nothing installed. Oldest accepted: SnappyMail 2.21.4, RainLoop 1.15.0.
# snappymail_admin_password_env = "SNAPPYMAIL_ADMIN_PASSWORD"   # unset: generated, /etc/mailforge/snappymail-admin
# postfixadmin_default_aliases_to = "postmaster@example.org"   # where a domain added in PostfixAdmin's UI sends
#     postmaster@ (its abuse@, hostmaster@, webmaster@ go to that postmaster@), and PostfixAdmin's sender address;
#     a mailbox or alias declared in mail_domains. Unset: the superadmin if it is one, else the first mailbox.
# nginx_php_fpm_max_children = None      # PHP-FPM processes per app pool at most; None: 3 per CPU of the host,
#     bounded so that all pools (64 MB a process) fit in a quarter of its memory
# nginx_php_fpm_max_requests = 500       # recycle a PHP worker after this many requests
# nginx_php_hsts_max_age = 31536000      # Strict-Transport-Security max-age (seconds)
# tls_mode = "certbot"                   # instead of "selfsigned": Let's Encrypt over HTTP-01 (port 80 open)
# certbot_email = "hostmaster@example.org"
# certbot_server = "https://acme-v02.api.letsencrypt.org/directory"
# certbot_ca_bundle = None               # a PEM on this machine to trust for a private ACME server
# The certbot pre-check resolves every name through dns_preflight_nameservers (or this machine's resolvers).

# --- Firewall (defaults in deploys/firewall.py): nftables, inbound only 22, 25, 80, 143, 443, 465, 587, 993
# firewall_enabled = True          # False: mailforge removes its table (inet mailforge_filter), nothing else
# firewall_extra_ports = []        # more TCP ports to open, e.g. [8443]; your own tables go in /etc/nftables.d/

# --- fail2ban (defaults in deploys/fail2ban.py): jails for Postfix SASL, Dovecot, PostfixAdmin, Roundcube, SSH
# fail2ban_maxretry = 5            # failed logins from one address...
# fail2ban_findtime = 600          # ...within this many seconds get it banned...
# fail2ban_bantime = 3600          # ...for this many seconds, from every mail and web port (SSH: sshd jail only)
# fail2ban_ignoreip = []           # never banned, e.g. ["192.0.2.10", "198.51.100.0/24"]; loopback always is
