"""Facts mailforge needs that pyinfra does not ship. Each tolerates a host where the software is not yet
installed (facts are read before any operation runs, so on a fresh host they must answer "nothing yet").
"""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand

from mailforge.releases import parse_os_release

# Shell that prints a random password, generated on the host (it never crosses the network): base64 of 24
# random bytes plus four digits, because PostfixAdmin's default policy wants at least two digits, which base64
# alone lacks about 3% of the time.
GENERATE_PASSWORD = (
    "{ head -c 24 /dev/urandom | base64 | tr -d '/+=\\n'; printf -- '-'; tr -dc 0-9 < /dev/urandom | head -c 4; echo; }"
)


class SqlRows(FactBase[list[list[str]]]):
    """Rows of a query run as MariaDB's root (unix socket auth); [] when the database is not there yet."""

    default = list

    def command(self, database: str, query: str) -> StringCommand:
        return StringCommand(
            "mysql", "--batch", "--skip-column-names", "-e", QuoteString(query), QuoteString(database), "2>/dev/null",
            "|| true",
        )  # fmt: skip

    def process(self, output: list[str]) -> list[list[str]]:
        return [line.split("\t") for line in output if line]


class FileExists(FactBase[bool]):
    """Whether a path exists and is non-empty (secrets and keys are generated once, never replaced)."""

    default = bool

    def command(self, path: str) -> StringCommand:
        return StringCommand("test -s", QuoteString(path), "&& echo yes || echo no")

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[0] == "yes"


class DpkgInterrupted(FactBase[bool]):
    """Whether dpkg's journal (/var/lib/dpkg/updates) holds an unfinished run: an apt-get still running for a
    deploy that was killed, or one killed with it. dpkg refuses to install anything until it is finished."""

    default = bool

    def command(self) -> StringCommand:
        return StringCommand("ls -A /var/lib/dpkg/updates 2>/dev/null | head -1")

    def process(self, output: list[str]) -> bool:
        return any(line.strip() for line in output)


class OsRelease(FactBase[dict[str, str]]):
    """The target's os-release(5) fields ({} where there is none): which Debian release the deploy meets.

    /etc/os-release first, /usr/lib/os-release as the standard's fallback. Not pyinfra's LinuxDistribution:
    that reads every /etc/*-release through the `distro` library; this is the one file, parsed by
    mailforge/releases.py, whose table decides what is supported.
    """

    default = dict

    def command(self) -> StringCommand:
        return StringCommand("cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true")

    def process(self, output: list[str]) -> dict[str, str]:
        return parse_os_release("\n".join(output))


class MachineSize(FactBase[tuple[int, int]]):
    """(CPUs this host may run on, memory in MB): nproc honours the CPU affinity a container or VM gives it;
    memory is MemTotal, or the cgroup's memory.max where that is lower."""

    def command(self) -> str:
        return (
            "nproc; awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo;"
            " cat /sys/fs/cgroup/memory.max 2>/dev/null || true"
        )

    def process(self, output: list[str]) -> tuple[int, int]:
        cpus, memory = int(output[0]), int(output[1])
        if len(output) > 2 and output[2].strip().isdigit():
            memory = min(memory, int(output[2]) // 1048576)
        return cpus, memory
