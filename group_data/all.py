"""Operator-facing settings for every host: each settings key is documented here, with its default.

Required keys (no safe default) are set here or per host in the inventory; example values use example.org,
replace them with your own. Every other key is a comment giving its real default, then what it does:

    # key = DEFAULT
    #     What the key does (one sentence, or more lines indented alike).

Uncomment a key (or set it in the inventory) to change it. DEFAULT is a Python literal; when it does not fit on
one line it continues on the following comment lines until it is complete. The defaults themselves live in
mailforge/settings/<component>.py; tests/unit/test_group_data.py proves this file lists every key with its real
default and nothing else.
"""

# --- Base system (mailforge/settings/base.py)

# Required: the server's fully qualified host name: HELO name, TLS certificate name, MX target and PTR.
mail_hostname = "mail.example.org"

# mail_timezone = "UTC"
#     IANA timezone of the server (e.g. "Europe/Berlin"); mail logs and queue ages are read in it.

# --- Mail domains (mailforge/settings/domains.py)

# Required: the mail domains this server receives for. Per domain:
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

# --- Postfix (mailforge/settings/postfix.py)

# postfix_message_size_limit = 52428800
#     Largest message accepted, in bytes (50 MiB).
# postfix_mydestination = ["$myhostname", "localhost"]
#     Domains delivered to local Unix accounts (Postfix's own notices to postmaster); never a virtual domain.
# postfix_transport_maps = {}
#     Static routes, e.g. {"example.net": "smtp:[192.0.2.10]:25"} (a ".example.net" key covers subdomains).
# postfix_outbound_tls = "may"
#     Outbound TLS: "may" (opportunistic) or "dane" (needs a DNSSEC-validating resolver on the server).
# postfix_hide_submission_client = True
#     Mail sent on 587/465 does not carry the user's IP address in Received; False keeps Postfix's full header.

# --- Relay host (smarthost) for clouds that block outbound port 25 (mailforge/settings/relay.py)

# postfix_relay_host = ""
#     The relay, e.g. "smtp.sendgrid.net" (or an address); empty: deliver directly.
# postfix_relay_port = 587
#     The relay's submission port: 587 (STARTTLS) or 2525.
# postfix_relay_username = ""
#     The login at the relay, e.g. "apikey"; required with a relay host.
# postfix_relay_password_env = ""
#     An environment variable on the control machine holding the relay password, e.g. "RELAY_PASSWORD"...
# postfix_relay_password_file = ""
#     ...or a file there holding it, e.g. "~/.secrets/relay"; never commit either.

# --- DKIM: one RSA key per domain, generated on the host once (mailforge/settings/dkim.py)

# dkim_selector = "mail"
#     The selector (<selector>._domainkey.<domain>); change it to rotate: the old key stays on the host.
# dkim_key_bits = 2048
#     RSA key size of new keys.

# --- Dovecot (mailforge/settings/dovecot.py)

# dovecot_vmail_uid = 2000
#     uid of the vmail user that owns every Maildir.
# dovecot_vmail_gid = 2000
#     gid of the vmail group.
# dovecot_mail_root = "/var/vmail"
#     Root of the Maildirs: <root>/<domain>/<user>.

# --- PostfixAdmin (mailforge/settings/postfixadmin.py)

# postfixadmin_password_scheme = "ARGON2I"
#     Mailbox password hash scheme: ARGON2I, ARGON2ID, BLF-CRYPT or SHA512-CRYPT.

# --- TLS (mailforge/settings/tls.py): the one policy of Postfix, Dovecot and Nginx (README "Security")

# tls_mode = "selfsigned"
#     "selfsigned": a host-local CA signs the server certificate; "certbot": Let's Encrypt over HTTP-01.
# tls_min_protocol = "TLSv1.2"
#     Oldest protocol offered, or "TLSv1.3" (port 25 keeps 1.2: its TLS is opportunistic).
# tls_ciphers = [
#     "ECDHE-ECDSA-AES128-GCM-SHA256",
#     "ECDHE-RSA-AES128-GCM-SHA256",
#     "ECDHE-ECDSA-AES256-GCM-SHA384",
#     "ECDHE-RSA-AES256-GCM-SHA384",
#     "ECDHE-ECDSA-CHACHA20-POLY1305",
#     "ECDHE-RSA-CHACHA20-POLY1305",
# ]
#     TLS 1.2 suites, preferred first: ECDHE with AEAD only (Mozilla intermediate).
# tls_curves = ["X25519", "prime256v1", "secp384r1"]
#     ECDHE groups, preferred first.
# tls_prefer_server_ciphers = True
#     The server orders the suites (Mozilla: False; README "Security" explains).

# --- Certbot, with tls_mode = "certbot" (mailforge/settings/certbot.py)

# certbot_server = "https://acme-v02.api.letsencrypt.org/directory"
#     The ACME directory (Let's Encrypt production).
# certbot_email = None
#     Account address for expiry notices, e.g. "hostmaster@example.org"; None: registered without one.
# certbot_ca_bundle = None
#     A PEM file on this machine to trust for a private ACME server's HTTPS.

# --- DNS (mailforge/settings/dns.py); the zones to publish go to build/dns/<inventory host>/<domain>.zone

# mail_ipv4 = []
#     Public IPv4 addresses of the server (A, SPF, PTR), e.g. ["203.0.113.10"].
# mail_ipv6 = []
#     Public IPv6 addresses of the server (AAAA, SPF, PTR).
# dns_dmarc_policy = "quarantine"
#     DMARC policy to publish: none | quarantine | reject.
# dns_dmarc_rua = []
#     Where DMARC aggregate reports go, e.g. ["dmarc-reports@example.org"].
# dns_caa_issuers = []
#     CAs allowed to issue certificates for the domains (CAA), e.g. ["letsencrypt.org"].
# mail_dns_preflight = "warn"
#     Audit of the published DNS before the run: off | warn | enforce (errors stop it before any host is touched).
# dns_preflight_nameservers = []
#     Resolvers for the audit and Certbot's pre-check, as "IP[:PORT]"; empty: this machine's /etc/resolv.conf.
# dns_relay_spf_include = None
#     The relay provider's SPF domain, e.g. "sendgrid.net", added to the SPF record as include:.

# --- Nginx and PHP-FPM (mailforge/settings/nginx_php.py)

# nginx_php_fpm_max_children = None
#     PHP-FPM processes per app pool at most; None: 3 per CPU, all pools (64 MB each) within a quarter of memory.
# nginx_php_fpm_max_requests = 500
#     A PHP worker is recycled after this many requests (0: never).
# nginx_php_hsts_max_age = 31536000
#     Strict-Transport-Security max-age, in seconds (0 turns HSTS off).

# --- PostfixAdmin's web UI (mailforge/settings/postfixadmin_ui.py)

# postfixadmin_hostname = None
#     The UI's host name, e.g. "postfixadmin.example.org"; None: postfixadmin.<parent domain of mail_hostname>.
# postfixadmin_superadmin = None
#     The superadmin's login, e.g. "admin@example.org"; None: admin@<first mail domain>.
# postfixadmin_superadmin_password_env = None
#     An environment variable holding its password; None: generated, /etc/mailforge/postfixadmin/superadmin.
# postfixadmin_default_aliases_to = None
#     Where a domain added in the UI sends postmaster@ (its abuse@, hostmaster@, webmaster@ go to that
#     postmaster@), and PostfixAdmin's sender address: a mailbox or alias declared in mail_domains. None: the
#     superadmin if it is one, else the first mailbox.

# --- Webmail (mailforge/settings/webmail.py)

# webmail = "roundcube"
#     roundcube (Debian's package) | snappymail | rainloop (pinned upstream archives) | none.
# webmail_hostname = None
#     The webmail's host name, e.g. "webmail.example.org"; None: webmail.<parent domain of mail_hostname>.
# snappymail_version = "2.38.2"
#     SnappyMail's pinned release (set the version, archive URL and SHA-256 together; oldest accepted: 2.21.4).
# snappymail_archive_url = "https://github.com/the-djmaze/snappymail/releases/download/v2.38.2/snappymail-2.38.2.tar.gz"
#     Its release archive (https:// or file://).
# snappymail_archive_sha256 = "71f1d8a9065cc9cf7ddd064f5c47cc7b255cb70e6a56713647fc73d4b79e33ec"
#     The archive's SHA-256: a wrong one stops the run with nothing installed.
# snappymail_admin_password_env = None
#     An environment variable holding the admin panel password; None: generated, /etc/mailforge/snappymail-admin.
# rainloop_version = "1.17.0"
#     RainLoop's pinned release (unmaintained upstream; set the three together; oldest accepted: 1.15.0).
# rainloop_archive_url = "https://github.com/RainLoop/rainloop-webmail/releases/download/v1.17.0/rainloop-legacy-1.17.0.zip"
#     Its release archive (https:// or file://).
# rainloop_archive_sha256 = "782dcabacadab5d7176f7701dd23319a040b2cfbf974fac6df068600cf69c50a"
#     The archive's SHA-256: a wrong one stops the run with nothing installed.
# rainloop_admin_password_env = None
#     An environment variable holding the admin panel password; None: generated, /etc/mailforge/rainloop-admin.

# --- Firewall: nftables, inbound only 22, 25, 80, 143, 443, 465, 587, 993 (mailforge/settings/firewall.py)

# firewall_enabled = True
#     False: mailforge removes its table (inet mailforge_filter) and touches nothing else.
# firewall_extra_ports = []
#     More TCP ports to open, e.g. [8443]; your own tables go in /etc/nftables.d/.

# --- fail2ban: jails for Postfix SASL, Dovecot, PostfixAdmin, Roundcube, SSH (mailforge/settings/fail2ban.py)

# fail2ban_maxretry = 5
#     Failed logins from one address within fail2ban_findtime seconds that get it banned.
# fail2ban_findtime = 600
#     The window, in seconds, in which those failures count.
# fail2ban_bantime = 3600
#     How long, in seconds, a ban lasts, from every mail and web port (SSH: the sshd jail only).
# fail2ban_ignoreip = []
#     Never banned, e.g. ["192.0.2.10", "198.51.100.0/24"]; loopback always is.
