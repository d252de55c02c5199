"""A deterministic, realistic synthetic mail log (for the benchmark and cross-checks against pflogsumm).

The mix per message: inbound through postscreen + amavis + LMTP, outbound submission with TLS and SASL,
local pickup, deferrals that later succeed, bounces, pre-queue rejects, SASL failures, IMAP logins and
unrelated syslog noise. Queue IDs are ``<prefix><counter>`` in hex, so copies of one block with different
prefixes never share an ID (the 1 GB trace benchmark relies on that).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

USERS = [f"user{i}@example.test" for i in range(200)]
REMOTE = [f"person{i}@{d}" for i in range(300) for d in ("example.org", "example.com", "example.net")]
CLIENTS = [(f"mail{i}.example.org", f"10.213.{i % 200}.{(i * 7) % 250 + 2}") for i in range(400)]
H = "mx"


class Generator:
    def __init__(self, seed: int = 7, prefix: str = "", start: datetime | None = None) -> None:
        self.rnd = random.Random(seed)
        self.prefix = prefix
        self.n = 0
        self.pid = 1000
        self.t = start or datetime(2024, 7, 1, 0, 0, 0)

    def qid(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:0{10 - len(self.prefix)}X}"

    def _pid(self) -> int:
        self.pid = self.pid + 1 if self.pid < 60000 else 1000
        return self.pid

    def _ts(self) -> str:
        self.t += timedelta(milliseconds=self.rnd.randint(5, 400))
        return self.t.strftime("%b %e %H:%M:%S")

    def line(self, prog: str, msg: str, pid: int | None = None) -> str:
        tag = f"{prog}[{pid}]" if pid is not None else prog
        return f"{self._ts()} {H} {tag}: {msg}"

    # -- scenarios -------------------------------------------------------------------------------

    def inbound(self) -> Iterator[str]:
        r = self.rnd
        name, ip = r.choice(CLIENTS)
        sender, rcpt = r.choice(REMOTE), r.choice(USERS)
        q1, q2, spid, cpid = self.qid(), self.qid(), self._pid(), self._pid()
        size = r.randint(2_000, 200_000)
        mid = f"{q1}.{r.randint(0, 10**9)}@{sender.split('@')[1]}"
        yield self.line("postfix/postscreen", f"CONNECT from [{ip}]:{r.randint(1024, 65000)} to [10.213.0.2]:25", 600)
        yield self.line("postfix/postscreen", f"PASS OLD [{ip}]:{r.randint(1024, 65000)}", 600)
        yield self.line("postfix/smtpd", f"connect from {name}[{ip}]", spid)
        yield self.line(
            "postfix/smtpd",
            f"Anonymous TLS connection established from {name}[{ip}]: TLSv1.3 with cipher "
            "TLS_AES_256_GCM_SHA384 (256/256 bits)",
            spid,
        )
        yield self.line("postfix/smtpd", f"{q1}: client={name}[{ip}]", spid)
        yield self.line("postfix/cleanup", f"{q1}: message-id=<{mid}>", cpid)
        yield self.line("opendkim", f"{q1}: {name} [{ip}] not internal", 800)
        yield self.line("postfix/qmgr", f"{q1}: from=<{sender}>, size={size}, nrcpt=1 (queue active)", 900)
        yield self.line(
            "postfix/smtpd",
            f"disconnect from {name}[{ip}] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7",
            spid,
        )
        rpid = self._pid()
        yield self.line("postfix/smtpd", "connect from localhost[127.0.0.1]", rpid)
        yield self.line("postfix/smtpd", f"{q2}: client=localhost[127.0.0.1]", rpid)
        yield self.line("postfix/cleanup", f"{q2}: message-id=<{mid}>", cpid)
        yield self.line("postfix/qmgr", f"{q2}: from=<{sender}>, size={size + 600}, nrcpt=1 (queue active)", 900)
        yield self.line(
            "amavis",
            f"({rpid:05d}-01) Passed CLEAN {{RelayedInbound}}, [{ip}]:{r.randint(1024, 65000)} [{ip}] <{sender}> -> "
            f"<{rcpt}>, Queue-ID: {q1}, Message-ID: <{mid}>, mail_id: x{self.n}, Hits: -0.1, size: {size}, "
            f"queued_as: {q2}, {r.randint(100, 900)} ms",
            1500,
        )
        yield self.line(
            "postfix/smtp",
            f"{q1}: to=<{rcpt}>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.9, delays=0.1/0/0/0.8, dsn=2.0.0, "
            f"status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as {q2})",
            self._pid(),
        )
        yield self.line("postfix/qmgr", f"{q1}: removed", 900)
        yield self.line(
            "postfix/smtpd", "disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5", rpid
        )
        lpid = self._pid()
        yield self.line("dovecot", f"lmtp({rcpt})<{lpid}><s{self.n}>: msgid=<{mid}>: saved mail to INBOX")
        yield self.line(
            "postfix/lmtp",
            f"{q2}: to=<{rcpt}>, relay={H}.example.test[private/dovecot-lmtp], delay=0.05, "
            f"delays=0.01/0/0.01/0.03, dsn=2.0.0, status=sent (250 2.0.0 <{rcpt}> s{self.n} Saved)",
            lpid,
        )
        yield self.line("postfix/qmgr", f"{q2}: removed", 900)

    def outbound(self, deferred: bool = False, bounced: bool = False) -> Iterator[str]:
        r = self.rnd
        sender, rcpt = r.choice(USERS), r.choice(REMOTE)
        dom = rcpt.split("@")[1]
        q, spid, cpid, opid = self.qid(), self._pid(), self._pid(), self._pid()
        ip = f"10.213.{r.randint(1, 199)}.{r.randint(2, 250)}"
        size = r.randint(1_000, 50_000)
        yield self.line("postfix/submission/smtpd", f"connect from client.example.test[{ip}]", spid)
        yield self.line(
            "postfix/submission/smtpd",
            f"Anonymous TLS connection established from client.example.test[{ip}]: TLSv1.3 with cipher "
            "TLS_AES_256_GCM_SHA384 (256/256 bits)",
            spid,
        )
        yield self.line(
            "postfix/submission/smtpd",
            f"{q}: client=client.example.test[{ip}], sasl_method=PLAIN, sasl_username={sender}",
            spid,
        )
        yield self.line("postfix/cleanup", f"{q}: message-id=<{q}@example.test>", cpid)
        yield self.line("opendkim", f"{q}: DKIM-Signature field added (s=mail, d=example.test)", 800)
        yield self.line("postfix/qmgr", f"{q}: from=<{sender}>, size={size}, nrcpt=1 (queue active)", 900)
        yield self.line(
            "postfix/submission/smtpd",
            f"disconnect from client.example.test[{ip}] ehlo=2 starttls=1 "
            f"auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8",
            spid,
        )
        mx = f"mx.{dom}[10.213.{r.randint(1, 199)}.{r.randint(2, 250)}]"
        if deferred:
            why = r.choice(
                [
                    f"connect to {mx}:25: Connection refused",
                    f"connect to {mx}:25: Connection timed out",
                    f"host {mx} said: 450 4.2.0 <{rcpt}>: Recipient address "
                    f"rejected: Greylisted (in reply to RCPT TO command)",
                ]
            )
            yield self.line(
                "postfix/smtp",
                f"{q}: to=<{rcpt}>, relay={'none' if why.startswith('connect') else mx + ':25'}, delay=5, "
                f"delays=0.1/0/4.9/0, dsn=4.4.1, status=deferred ({why})",
                opid,
            )
        if bounced:
            yield self.line(
                "postfix/smtp",
                f"{q}: to=<{rcpt}>, relay={mx}:25, delay=0.6, delays=0.1/0/0.3/0.2, dsn=5.1.1, status=bounced "
                f"(host {mx} said: 550 5.1.1 <{rcpt}>: Recipient address "
                f"rejected: User unknown (in reply to RCPT TO command))",
                opid,
            )
            nq = self.qid()
            yield self.line("postfix/cleanup", f"{nq}: message-id=<{nq}@{H}.example.test>", cpid)
            yield self.line("postfix/bounce", f"{q}: sender non-delivery notification: {nq}", self._pid())
            yield self.line("postfix/qmgr", f"{nq}: from=<>, size=3000, nrcpt=1 (queue active)", 900)
            yield self.line(
                "postfix/lmtp",
                f"{nq}: to=<{sender}>, relay={H}.example.test[private/dovecot-lmtp], delay=0.02, "
                "delays=0/0/0.01/0.01, dsn=2.0.0, status=sent (250 2.0.0 Saved)",
                self._pid(),
            )
            yield self.line("postfix/qmgr", f"{nq}: removed", 900)
        else:
            yield self.line(
                "postfix/smtp",
                f"Trusted TLS connection established to {mx}:25: TLSv1.3 "
                f"with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                opid,
            )
            yield self.line(
                "postfix/smtp",
                f"{q}: to=<{rcpt}>, relay={mx}:25, delay=1.2, delays=0.1/0/0.4/0.7, dsn=2.0.0, "
                f"status=sent (250 2.0.0 Ok: queued as {r.randint(0, 16**10):010X})",
                opid,
            )
        yield self.line("postfix/qmgr", f"{q}: removed", 900)

    def local(self) -> Iterator[str]:
        q = self.qid()
        yield self.line("postfix/pickup", f"{q}: uid=0 from=<root>", 901)
        yield self.line("postfix/cleanup", f"{q}: message-id=<{q}@{H}.example.test>", self._pid())
        yield self.line("postfix/qmgr", f"{q}: from=<root@{H}.example.test>, size=700, nrcpt=1 (queue active)", 900)
        yield self.line(
            "postfix/local",
            f"{q}: to=<root@{H}.example.test>, relay=local, delay=0.02, delays=0/0/0/0.02, dsn=2.0.0, "
            "status=sent (delivered to mailbox)",
            self._pid(),
        )
        yield self.line("postfix/qmgr", f"{q}: removed", 900)

    def reject(self) -> Iterator[str]:
        r = self.rnd
        name, ip = r.choice(CLIENTS)
        pid = self._pid()
        sender, rcpt = r.choice(REMOTE), r.choice([*USERS, "victim@example.org", "nobody@example.test"])
        reason = r.choice(
            [
                f"554 5.7.1 <{rcpt}>: Relay access denied",
                f"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table",
                f"554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org",
                f"450 4.7.1 <{sender}>: Sender address rejected: Domain not found",
            ]
        )
        yield self.line("postfix/smtpd", f"connect from {name}[{ip}]", pid)
        yield self.line(
            "postfix/smtpd",
            f"NOQUEUE: reject: RCPT from {name}[{ip}]: {reason}; from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{name}>",
            pid,
        )
        yield self.line(
            "postfix/smtpd", f"disconnect from {name}[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4", pid
        )

    def sasl_failure(self) -> Iterator[str]:
        r = self.rnd
        ip = f"10.213.{r.randint(200, 254)}.{r.randint(2, 250)}"
        pid = self._pid()
        yield self.line("postfix/submission/smtpd", f"connect from unknown[{ip}]", pid)
        yield self.line(
            "postfix/submission/smtpd", f"warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", pid
        )
        yield self.line("postfix/submission/smtpd", f"lost connection after AUTH from unknown[{ip}]", pid)
        yield self.line("postfix/submission/smtpd", f"disconnect from unknown[{ip}] ehlo=1 auth=0/1 commands=1/2", pid)

    def imap(self) -> Iterator[str]:
        r = self.rnd
        user = r.choice(USERS)
        ip = f"10.213.{r.randint(1, 199)}.{r.randint(2, 250)}"
        yield self.line(
            "dovecot",
            f"imap-login: Login: user=<{user}>, method=PLAIN, rip={ip}, lip=10.213.0.2, "
            f"mpid={self._pid()}, TLS, session=<s{self.n}>",
        )
        yield self.line(
            "dovecot",
            f"imap({user})<{self.pid}><s{self.n}>: Logged out in=120 out=4560 deleted=0 expunged=0 "
            f"trashed=0 hdr_count=10 hdr_bytes=3000 body_count=1 body_bytes=2000",
        )

    def noise(self) -> Iterator[str]:
        yield self.line("CRON", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)", self._pid())

    def lines(self, count: int) -> Iterator[str]:
        """About ``count`` lines (whole scenarios, so slightly more)."""
        scenarios = [
            (self.inbound, 30),
            (self.outbound, 25),
            (lambda: self.outbound(deferred=True), 4),
            (lambda: self.outbound(bounced=True), 2),
            (self.local, 5),
            (self.reject, 15),
            (self.sasl_failure, 6),
            (self.imap, 10),
            (self.noise, 3),
        ]
        funcs = [f for f, _ in scenarios]
        weights = [w for _, w in scenarios]
        made = 0
        while made < count:
            for line in self.rnd.choices(funcs, weights)[0]():
                made += 1
                yield line


def write(path: str, count: int, seed: int = 7, prefix: str = "") -> int:
    """Write about ``count`` lines to ``path``; return the number written."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        buf: list[str] = []
        for line in Generator(seed, prefix).lines(count):
            buf.append(line)
            if len(buf) >= 10_000:
                fh.write("\n".join(buf) + "\n")
                n += len(buf)
                buf.clear()
        if buf:
            fh.write("\n".join(buf) + "\n")
            n += len(buf)
    return n
