"""Who may read each private key and secret on a host: the audit deploys/key_audit.py runs after every deploy.

A file passes when its owner and group are exactly the expected ones and its mode grants nothing beyond the
allowed mode (0600: the owner alone; 0640: the owner, and a daemon's group for reading). Stricter modes
(Certbot's 0400 account keys) pass. The check is a POSIX shell script built here, so the same text runs on
the host during a deploy and locally in the unit tests. Pure code: no pyinfra import.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SecretFile:
    pattern: str  # a path, or a shell glob whose every match is checked
    owner: str  # "user:group"
    mode: int  # the most the mode may grant, e.g. 0o600
    required: bool = True  # False: the file (or every match of the glob) may be absent

    def __post_init__(self) -> None:
        if ":" not in self.owner or not 0 <= self.mode <= 0o777 or any(c in self.pattern for c in " \t\n'\""):
            raise ValueError(f"bad SecretFile {self!r}")


# One function call per file: every match (each path judged once) must exist as a regular file (links
# followed), be owned by exactly user:group, and have no permission bit outside the allowed mode
# (setuid/setgid/sticky bits included).
_FUNCTION = """\
bad=0; seen=" "
audit() {
  pattern=$1; allowed=$2; want=$3; need=$4; found=0
  for path in $pattern; do
    [ -e "$path" ] || continue
    found=1
    case $seen in *" $path "*) continue ;; esac  # named again by a later glob: judged once
    seen="$seen$path "
    mode=$(stat -L -c %a "$path"); owner=$(stat -L -c %U:%G "$path")
    if [ ! -f "$path" ] || [ $(( 0$mode & ~0$allowed )) -ne 0 ] || [ "$owner" != "$want" ]; then
      echo "$path is $owner with mode 0$mode: want $want, mode 0$allowed or stricter" OUT
      bad=1
    fi
  done
  if [ $found = 0 ] && [ "$need" = required ]; then echo "$pattern is missing" OUT; bad=1; fi
}
"""


def audit_script(files: Sequence[SecretFile], *, fail: bool) -> str:
    """The check as one shell script. fail=True: problems on stderr and exit 1 (the deploy step);
    fail=False: problems on stdout and exit 0 (a fact read before the run)."""
    lines = [_FUNCTION.replace(" OUT", " >&2" if fail else "")]
    for f in files:
        need = "required" if f.required else "optional"
        # The pattern stays unquoted inside the function so the shell expands the glob; quoting here keeps
        # the argument one word.
        lines.append(f"audit {shlex.quote(f.pattern)} {f.mode:o} {shlex.quote(f.owner)} {need}")
    lines.append('exit "$bad"' if fail else "true")
    return "\n".join(lines) + "\n"
