"""`mailforge backup` and `mailforge restore`: one encrypted archive that rebuilds a mail server.

What an archive holds (layout in archive.py): PostfixAdmin's database and Roundcube's (``mariadb-dump
--single-transaction``), MariaDB accounts the deploy does not create, every Maildir, and the host's secrets
and keys (remote.ROOTS: mailbox and superadmin passwords, the webmail admin password, the local CA and the
server key and certificate, DKIM keys, PostfixAdmin's setup_password hash, /etc/letsencrypt), plus a
manifest with the SHA-256 of every file and a hash of the inventory's settings.

How it stays consistent without stopping the server: the databases are InnoDB, so a single transaction
gives one consistent view while writers carry on; the Maildirs are snapshotted with hard links while Dovecot
is stopped for the second or two that takes (Maildir never rewrites a message file in place), and Postfix
queues deliveries meanwhile (a temporary failure, never a bounce). Then tar reads the snapshot at leisure.

Encryption (crypto.py): gpg's symmetric mode on the control machine, the passphrase from an environment
variable or a key file there; the key is never sent to a host nor stored in the archive. A changed byte
fails gpg's integrity check; every member is also checked against the manifest before a host is touched.

Restore onto a fresh host, in this order (README, "Backup and restore"):
  1. the normal deploy (packages, users, services, a database schema; its fresh secrets are then replaced),
  2. ``mailforge restore HOST ARCHIVE``: databases, then secrets and keys merged over the deploy's, then the
     Maildirs moved in; what the host had is kept in /var/backups/mailforge-replaced-<time>,
  3. the normal deploy again: it finds every key, secret and row it would create, so it converges, and a
     second run reports zero changes.
Restore refuses a host that already holds mail unless ``--force``; ``--dry-run`` checks the archive and the
host and prints the plan without changing anything.
"""
