# Managed by mailforge (mailforge/backup/restore.sh); run on the mail server by `mailforge restore`.
# Puts an archive, already unpacked into STAGE by restore, in place: databases, secrets and keys, Maildirs.
# Usage: bash -c "$(cat restore.sh)" mailforge-restore STAGE FORCE(yes|no)
set -euo pipefail
umask 077

stage="$1"
force="$2"
stopped=()
fail() { echo "mailforge restore: $*" >&2; exit "${2:-1}"; }
cleanup() {
    # Services run again and the plain-text stage goes, whatever happened.
    if [ "${#stopped[@]}" -gt 0 ]; then systemctl start "${stopped[@]}" || true; fi
    rm -rf "$stage"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

case "$stage" in /var/tmp/mailforge-restore.*) ;; *) fail "not a restore stage: $stage" ;; esac
cd "$stage"
# What arrived is what the archive holds (restore checked the archive itself before sending it).
sha256sum --quiet --strict --check SHA256SUMS > /dev/null || fail "the upload does not match the archive's checksums; nothing was changed"

mail_root="$(getent passwd vmail | cut -d: -f6)"
[ -n "$mail_root" ] && [ -d "$mail_root" ] || fail "no vmail user with a mail root: run the deploy on this host first" 3
mysql -N -e "SELECT 1 FROM postfixadmin.domain LIMIT 1" > /dev/null 2>&1 \
    || fail "no PostfixAdmin database: run the deploy on this host first" 3
if [ "$force" != yes ]; then
    found="$(find "$mail_root" -path "$mail_root/.mailforge-*" -prune -o -type f \( -path '*/cur/*' -o -path '*/new/*' \) -print -quit)"
    [ -z "$found" ] || fail "this host already holds mail ($found); nothing was changed (--force replaces it)" 3
fi

# Nothing may write mail, keys or the database while they are replaced: SMTP clients are refused for that
# time (and retry), deliveries and logins wait.
for unit in postfix dovecot opendkim php8.2-fpm; do
    if systemctl is-active --quiet "$unit"; then
        systemctl stop "$unit"
        stopped+=("$unit")
    fi
done

# What this host had is kept, not deleted: a copy of every path the archive replaces, and the Maildirs moved.
aside="/var/backups/mailforge-replaced-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$aside"

# 1. Databases: accounts this host lacks, then each database as dumped (DROP, CREATE, rows). A database the
# host does not use (Roundcube when the inventory chose another webmail) is not created.
shopt -s nullglob
for sql in db/users/*.sql; do
    name="$(basename "$sql" .sql)"
    user="${name%@*}"
    host="${name##*@}"
    if [ "$(mysql -N -e "SELECT COUNT(*) FROM mysql.user WHERE User='$user' AND Host='$host'")" = 0 ]; then
        mysql < "$sql"
        echo "account $user@$host created"
    fi
done
for sql in db/*.sql; do
    database="$(basename "$sql" .sql)"
    if [ "$database" != postfixadmin ] && [ -z "$(mysql -N -e "SHOW DATABASES LIKE '$database'")" ]; then
        echo "database $database skipped: this host does not use it"
        continue
    fi
    mariadb-dump --single-transaction --databases "$database" > "$aside/$database.sql" 2> /dev/null || true
    mysql < "$sql"
    echo "database $database restored"
done
# PostfixAdmin's own migration: a no-op when the versions match, the schema steps when this host's
# PostfixAdmin is newer than the one that wrote the dump.
(cd /usr/share/postfixadmin/public && php upgrade.php > /dev/null)

# 2. Secrets and keys: merged over what the deploy made here (the archive's files win; cp -a keeps owners,
# groups and modes). Owners are names, so opendkim's key stays opendkim's whatever its uid is here.
roots="$(sed -n 's/^roots=//p' meta/host.env)"
for root in $roots; do
    [ -e "files$root" ] || continue
    if [ -e "$root" ]; then
        mkdir -p "$aside$(dirname "$root")"
        cp -a "$root" "$aside$root"
    fi
    mkdir -p "$(dirname "$root")"
    if [ -d "files$root" ]; then
        mkdir -p "$root"
        cp -a --remove-destination "files$root/." "$root/"
    else
        cp -a --remove-destination "files$root" "$root"
    fi
    echo "restored $root"
done

# 3. Maildirs: each domain's directory moved in whole (a rename on the same file system).
count=0
for dir in maildirs/*/; do
    domain="$(basename "$dir")"
    if [ -e "$mail_root/$domain" ]; then
        mkdir -p "$aside/maildirs"
        mv "$mail_root/$domain" "$aside/maildirs/$domain"
    fi
    mv "$dir" "$mail_root/$domain"
    count=$((count + 1))
done
echo "restored the Maildirs of $count domain(s) into $mail_root"

# The daemons that were stopped read the restored keys and certificates as they start; Nginx, which kept
# running, reloads for the certificate.
if [ "${#stopped[@]}" -gt 0 ]; then systemctl start "${stopped[@]}"; fi
stopped=()
systemctl try-reload-or-restart nginx
postqueue -f 2> /dev/null || true
rmdir "$aside" 2> /dev/null || echo "kept what this host had before in $aside"
