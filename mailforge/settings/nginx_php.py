"""Nginx and PHP-FPM (deploys/web/nginx_php.py): the web tier's pools and HTTPS headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailforge.settings.common import Reader

DEFAULTS: dict[str, Any] = {
    # PHP-FPM processes per app pool at most; None: sized from the host's CPUs and memory (fpm_children).
    "nginx_php_fpm_max_children": None,
    # A worker is recycled after this many requests (0: never), bounding leaks in long-running PHP.
    "nginx_php_fpm_max_requests": 500,
    # Strict-Transport-Security max-age in seconds (one year; 0 sends max-age=0, turning HSTS off).
    "nginx_php_hsts_max_age": 31536000,
}


@dataclass(frozen=True)
class Machine:
    """What the target host has to run on, from its facts (deploys/settings.py), for sizing PHP-FPM pools."""

    cpus: int
    memory_mb: int


# When load_settings is not told (pure checks, `mailforge dns ...`): a small VPS.
SMALL_MACHINE = Machine(cpus=1, memory_mb=1024)
# PHP-FPM workers per CPU. The apps' pages are mostly CPU (templates, sessions, password hashing), but a worker
# also waits: on MariaDB and IMAP over local sockets, and on Nginx (which shares the CPUs, TLS included) to take
# its answer, so a few more workers than CPUs keep every CPU busy. Many more only queue on the CPUs: 16 on 2 CPUs
# served fewer requests/s than Debian's 5, with a worse p99. Between 5 and 8 on 2 CPUs, bench/web.py could not
# tell them apart on a loaded machine (runs differ by +-10%), and 8 had the worse p99 more often: three per
# CPU, the middle (figures in the README).
FPM_CHILDREN_PER_CPU = 3
# A PHP worker of these apps holds 30-60 MB; the pools together get at most a quarter of the memory: MariaDB,
# Dovecot, Postfix and the page cache need the rest.
FPM_CHILD_MB = 64
FPM_MEMORY_SHARE = 4


def fpm_children(machine: Machine, pools: int) -> int:
    """pm.max_children per pool, from the host's CPUs, bounded by its memory shared among the pools."""
    by_cpu = FPM_CHILDREN_PER_CPU * machine.cpus
    by_memory = machine.memory_mb // FPM_MEMORY_SHARE // (FPM_CHILD_MB * max(1, pools))
    return max(1, min(by_cpu, by_memory))


def read_fpm_max_children(read: Reader, machine: Machine, pools: int) -> int:
    """pools: PHP-FPM pools on the host (PostfixAdmin's, and the webmail's unless it is "none")."""
    children = read.optional("nginx_php_fpm_max_children")
    return fpm_children(machine, pools) if children is None else read.integer("nginx_php_fpm_max_children", 1, children)
