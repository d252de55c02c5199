"""The web tier's test data, shared by tests/e2e/test_web.py and bench/web.py: the names the web host
answers to, and its settings (the mail data of lab.mail plus PostfixAdmin's superadmin and default aliases).
"""

from __future__ import annotations

from typing import Any

from lab.mail import DEPLOY_ENV
from lab.mail import server_data as mail_server_data

MAIL_NAME = "web.example.test"
PFA_NAME = "postfixadmin.example.test"
WEBMAIL_NAME = "webmail.example.test"
NAMES = [MAIL_NAME, PFA_NAME, WEBMAIL_NAME]
SUPERADMIN = "admin@example.test"
SUPERADMIN_PASSWORD = "Admin-Horse-42-staple"
SUPERADMIN_ENV = "MAILFORGE_E2E_WEB_ADMIN_PASSWORD"
ENV = {**DEPLOY_ENV, SUPERADMIN_ENV: SUPERADMIN_PASSWORD}


# Where a domain added in PostfixAdmin's UI sends its postmaster@ (and through it abuse@, hostmaster@, webmaster@).
DEFAULT_ALIASES_TO = "alice@example.test"


def web_data() -> dict[str, Any]:
    return {
        **mail_server_data(MAIL_NAME, {}),
        "postfixadmin_superadmin": SUPERADMIN,
        "postfixadmin_superadmin_password_env": SUPERADMIN_ENV,
        "postfixadmin_default_aliases_to": DEFAULT_ALIASES_TO,
    }
