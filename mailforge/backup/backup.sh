# Managed by mailforge (mailforge/backup/backup.sh); run on the mail server by `mailforge backup`.
# Writes one tar stream to stdout (layout: mailforge/backup/archive.py); progress and errors go to stderr.
# Usage: bash -c "$(cat backup.sh)" mailforge-backup ROOT...
set -euo pipefail
umask 077

fail() { echo "mailforge backup: $*" >&2; exit 1; }

command -v mariadb-dump > /dev/null || fail "mariadb-dump not found: is this a host mailforge deployed?"
mail_root="$(getent passwd vmail | cut -d: -f6)"
[ -n "$mail_root" ] && [ -d "$mail_root" ] || fail "no vmail user with a mail root: is this a host mailforge deployed?"
mysql -N -e "SELECT 1 FROM postfixadmin.domain LIMIT 1" > /dev/null 2>&1 \
    || fail "no PostfixAdmin database: is this a host mailforge deployed?"

stage="$(mktemp -d /var/tmp/mailforge-backup.XXXXXX)"
snapshot="$mail_root/.mailforge-backup-snapshot"
dovecot_stopped=""
cleanup() {
    # Whatever happened, Dovecot runs again and nothing of this run stays on the host.
    if [ -n "$dovecot_stopped" ]; then systemctl start dovecot || true; fi
    rm -rf "$stage" "$snapshot"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE
rm -rf "$snapshot"  # a run killed by SIGKILL may have left one behind

# 1. The databases, while everything runs. PostfixAdmin's and Roundcube's tables are InnoDB, so
# --single-transaction reads one consistent snapshot without locking them (writers carry on).
# https://mariadb.com/kb/en/mariadb-dump/#options
mkdir -p "$stage/meta" "$stage/db/users"
dump() {
    mariadb-dump --single-transaction --quick --hex-blob --routines --triggers --events \
        --default-character-set=utf8mb4 --add-drop-database --databases "$1" > "$stage/db/$1.sql"
}
dump postfixadmin
if [ -n "$(mysql -N -e "SHOW DATABASES LIKE 'roundcube'")" ]; then dump roundcube; fi
# Accounts the deploy does not create: the packages' own (dbconfig-common) and mailforge's readers are made
# again on a fresh host with fresh passwords their configuration already holds, so they are left out.
mysql -N -e "SELECT User, Host FROM mysql.user WHERE is_role = 'N' AND User NOT IN
    ('root', 'mariadb.sys', 'mysql', 'debian-sys-maint', 'postfixadmin', 'roundcube', 'postfix', 'dovecot')" |
while IFS=$'\t' read -r user host; do
    {
        mysql -N -e "SHOW CREATE USER '$user'@'$host'" | sed 's/^CREATE USER/CREATE USER IF NOT EXISTS/; s/$/;/'
        mysql -N -e "SHOW GRANTS FOR '$user'@'$host'" | sed 's/$/;/'
    } > "$stage/db/users/$user@$host.sql"
done
rmdir --ignore-fail-on-non-empty "$stage/db/users"

# 2. The Maildirs: a hard-link snapshot taken while Dovecot (IMAP, LMTP, SASL) is stopped for the moment
# `cp -al` takes. Maildir never rewrites a message file in place (deliveries are renamed in from tmp/,
# flags are renames), so linked message files stay as they were; the files Dovecot does rewrite in place
# (indexes, logs) are copied instead. Postfix keeps accepting mail meanwhile and queues what it cannot
# hand to LMTP (a temporary failure, never a bounce); the flush below delivers it at once.
# https://doc.dovecot.org/admin_manual/mailbox_formats/maildir/
if systemctl is-active --quiet dovecot; then
    dovecot_stopped=yes
    systemctl stop dovecot
fi
mkdir -m 700 "$snapshot"
find "$mail_root" -mindepth 1 -maxdepth 1 ! -name '.mailforge-*' -exec cp -al -t "$snapshot" {} +
find "$snapshot" -type f ! -path '*/cur/*' ! -path '*/new/*' ! -path '*/tmp/*' \
    -exec sh -c 'for f; do cp -p "$f" "$f.copy" && mv -f "$f.copy" "$f"; done' sh {} +
# tmp/ holds deliveries still being written: not messages yet.
find "$snapshot" -type f -path '*/tmp/*' -delete
if [ -n "$dovecot_stopped" ]; then
    systemctl start dovecot
    dovecot_stopped=""
    postqueue -f 2> /dev/null || true
fi

# 3. What the host says about itself, then one tar stream: meta/ and db/ from the stage, files/ from the
# roots that exist, maildirs/ from the snapshot. Owners travel by name (vmail, opendkim, www-data) and modes
# with them, as tar does by default.
roots=()
for root in "$@"; do
    if [ -e "$root" ]; then roots+=("${root#/}"); fi
done
{
    echo "mailname=$(cat /etc/mailname 2> /dev/null || hostname -f)"
    echo "mail_root=$mail_root"
    echo "domains=$(mysql -N -e "SELECT domain FROM postfixadmin.domain WHERE domain <> 'ALL' ORDER BY domain" | tr '\n' ' ')"
    echo "roots=$(printf '/%s ' "${roots[@]}")"
    echo "debian=$(cat /etc/debian_version 2> /dev/null || true)"
    echo "mariadb=$(mysql -N -e 'SELECT VERSION()')"
    echo "postfixadmin=$(mysql -N -e "SELECT value FROM postfixadmin.config WHERE name = 'version'" 2> /dev/null || true)"
} > "$stage/meta/host.env"

# GNU tar's --transform renames members (and hard-link targets, not symlink targets: flag S) into the layout.
tar --create --file=- --format=gnu \
    --transform='s,^\.mailforge-backup-snapshot,maildirs,S' --transform='s,^\(etc\|var\)/,files/&,S' \
    -C "$stage" meta db \
    -C / "${roots[@]}" \
    -C "$mail_root" .mailforge-backup-snapshot
