"""MariaDB: the store PostfixAdmin, Postfix and Dovecot share. Loopback only, no anonymous users, no test DB.

Postfix and Dovecot log in through the Unix socket with MariaDB's unix_socket plugin as their own system
users (read-only grants): no database password exists in any mail daemon's configuration.
https://mariadb.com/kb/en/authentication-plugin-unix-socket/
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from deploys.facts import SqlRows
from deploys.templating import template

PACKAGES = ["mariadb-server", "mariadb-client"]
# System users that read the mail tables, each through the socket as itself.
READERS = ("postfix", "dovecot")


@deploy("MariaDB")
def mariadb() -> None:
    apt.packages(name="Install MariaDB", packages=PACKAGES, no_recommends=True)
    config = template(
        "/etc/mysql/mariadb.conf.d/60-mailforge.cnf",
        component="mariadb",
    )
    systemd.service(
        name="Run MariaDB",
        service="mariadb",
        running=True,
        enabled=True,
        restarted=True,
        _if=config.did_change,
    )
    systemd.service(name="Keep MariaDB enabled", service="mariadb", running=True, enabled=True)
    # What mysql_secure_installation removes; Debian ships neither, but a reused server might have them.
    leftovers = host.get_fact(
        SqlRows, database="mysql", query="SELECT CONCAT(User,'@',Host) FROM mysql.global_priv WHERE User=''"
    )
    test_db = host.get_fact(SqlRows, database="mysql", query="SHOW DATABASES LIKE 'test'")
    if leftovers or test_db:
        server.shell(
            name="Remove anonymous users and the test database",
            commands=["mysql -e \"DELETE FROM mysql.global_priv WHERE User=''; DROP DATABASE IF EXISTS test; "
                      "FLUSH PRIVILEGES;\""],
        )  # fmt: skip
    files.directory(name="Directory for mailforge secrets", path="/etc/mailforge", mode="755")


@deploy("MariaDB readers")
def grant_readers(database: str) -> None:
    """Read-only socket logins for the mail daemons, once their system users exist."""
    existing = {row[0] for row in host.get_fact(SqlRows, database="mysql", query="SELECT User FROM mysql.global_priv")}
    for user in READERS:
        if user in existing:
            continue
        server.shell(
            name=f"Let the {user} system user read {database}",
            commands=[
                f"mysql -e \"CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED VIA unix_socket; "
                f"GRANT SELECT ON {database}.* TO '{user}'@'localhost';\""
            ],
        )
