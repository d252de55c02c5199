# Managed by mailforge (mailforge/backup/inspect.sh); run on the mail server by `mailforge restore`.
# Reads, never writes: what restore needs to know before it changes anything. key=value lines on stdout.
set -uo pipefail

mail_root="$(getent passwd vmail | cut -d: -f6)"
echo "mail_root=$mail_root"
echo "mailname=$(cat /etc/mailname 2> /dev/null || true)"
if mysql -N -e "SELECT 1 FROM postfixadmin.domain LIMIT 1" > /dev/null 2>&1; then
    echo "postfixadmin_db=yes"
    echo "mailboxes=$(mysql -N -e 'SELECT COUNT(*) FROM postfixadmin.mailbox')"
    echo "domains=$(mysql -N -e "SELECT domain FROM postfixadmin.domain WHERE domain <> 'ALL' ORDER BY domain" | tr '\n' ' ')"
else
    echo "postfixadmin_db=no"
fi
if [ -n "$(mysql -N -e "SHOW DATABASES LIKE 'roundcube'" 2> /dev/null)" ]; then echo "roundcube_db=yes"; else echo "roundcube_db=no"; fi
for tool in mariadb-dump tar sha256sum doveconf postconf; do
    command -v "$tool" > /dev/null || echo "missing=$tool"
done
if [ -n "$mail_root" ] && [ -d "$mail_root" ]; then
    # Message files in any Maildir folder (cur/ and new/), mailforge's own scratch directories left out.
    echo "messages=$(find "$mail_root" -path "$mail_root/.mailforge-*" -prune -o -type f \( -path '*/cur/*' -o -path '*/new/*' \) -print | wc -l)"
fi
