"""Postfix in front of mailhub, end to end; run by scripts/postfix-e2e.sh (as root, Postfix installed).

Everything lives in the --work folder and on loopback: a private Postfix instance (own main.cf,
master.cf, queue and log file), a real `mailhub serve` with its own SQLite database, and an
aiosmtpd sink that stands for the rest of the Internet (every domain but the list domain).

Postfix listens twice, because every client here is on 127.0.0.1:
  mx port     the site's port 25 as the Internet sees it: loopback is not in mynetworks there,
              so the production restrictions apply (relay only to the list domain, and list
              addresses are verified with mailhub at RCPT);
  relay port  the same port as mailhub sees it, from a trusted address: mailhub's [relay].
"""
from __future__ import annotations

import argparse
import email
import email.utils
import functools
import json
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Callable, Optional, TypeVar

from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parent.parent
MAILHUB = REPO / ".venv" / "bin" / "mailhub"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTMAP = shutil.which("postmap") or "/usr/sbin/postmap"

DOMAIN = "lists.example.org"
MYHOSTNAME = "mx.postfix-e2e.invalid"  # unlike mailhub's and the sink's names, or Postfix sees a mail loop
GROUP = "e2e"
AUTHOR = "ann@example.com"
READERS = ("bea@example.com", "cid@example.com")
DEAD = "dead@example.com"  # the sink refuses it, as a mailbox that no longer exists
STRANGER = "stranger@example.net"  # not a member: writes to a group that does not exist
WAIT = 60.0  # seconds: the bound of every wait, so a broken setup fails instead of hanging CI
# How long Postfix remembers that mailhub refused an address. docs/operations.md suggests 60s; shortened
# here so that the run can show a group created after a refusal being let in.
FORGET_REFUSAL = 5
VERP = re.compile(rf"{GROUP}-bounces\+[^@\s]+@{re.escape(DOMAIN)}")
T = TypeVar("T")


class Failed(Exception):
    """A step of the run did not happen; the message says which, in words for the person reading CI."""


@dataclass(frozen=True)
class Ports:
    mx: int
    relay: int
    mailhub: int
    sink: int


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open at once, so the kernel cannot hand one out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for(check: Callable[[], Optional[T]], what: str, timeout: float = WAIT) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# ---- Postfix ----------------------------------------------------------------------------------

def main_cf(work: Path, config: Path, ports: Ports) -> str:
    return f"""\
compatibility_level = 3.6
# A private instance: its own queue, data and log, nothing shared with the system's Postfix.
queue_directory = {work}/spool
data_directory = {work}/data
maillog_file = {work}/postfix.log
maillog_file_prefixes = {work}
myhostname = {MYHOSTNAME}
mydestination =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
# A relay attempt gets a final 554 (Postfix's default defers it with 454).
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination

# --- the lines a site adds for mailhub (docs/operations.md, "Postfix in front") ---
relay_domains = {DOMAIN}
transport_maps = hash:{config}/transport
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination,
    check_recipient_access hash:{config}/mailhub_verify
unverified_recipient_reject_code = 550
address_verify_negative_expire_time = {FORGET_REFUSAL}s

# Every other domain is "the Internet": the sink.
default_transport = smtp:[127.0.0.1]:{ports.sink}
"""


def master_cf(ports: Ports) -> str:
    # No chroot (Debian's default) so that nothing needs copying into the queue folder. On the mx
    # port loopback is not in mynetworks (192.0.2.0/24 is TEST-NET-1), so a client there is treated
    # as the Internet.
    return f"""\
127.0.0.1:{ports.mx} inet n - n - - smtpd
  -o syslog_name=postfix/mx
  -o mynetworks=192.0.2.0/24
127.0.0.1:{ports.relay} inet n - n - - smtpd
  -o syslog_name=postfix/relay
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    def __init__(self, work: Path, ports: Ports) -> None:
        self.work, self.ports = work, ports
        self.config = work / "postfix"
        self.log = work / "postfix.log"
        self.started = False

    def run(self, *args: str) -> str:
        done = subprocess.run([POSTFIX, "-c", str(self.config), *args], capture_output=True, text=True,
                              timeout=WAIT)
        if done.returncode:  # Postfix says why in its log, which a failure prints
            raise Failed(f"postfix {' '.join(args)} exited {done.returncode} "
                         f"{(done.stderr or done.stdout).strip()}".rstrip())
        return done.stdout

    def configure(self) -> None:
        self.config.mkdir()
        (self.work / "spool").mkdir()  # `postfix start` fills it with the queue folders
        (self.config / "main.cf").write_text(main_cf(self.work, self.config, self.ports))
        (self.config / "master.cf").write_text(master_cf(self.ports))
        maps = {"transport": f"{DOMAIN} smtp:[127.0.0.1]:{self.ports.mailhub}\n",
                "mailhub_verify": f"{DOMAIN} reject_unverified_recipient\n"}
        for name, text in maps.items():
            (self.config / name).write_text(text)
            done = subprocess.run([POSTMAP, "-c", str(self.config), f"hash:{self.config / name}"],
                                  capture_output=True, text=True, timeout=WAIT)
            if done.returncode:
                raise Failed(f"postmap {name} failed: {done.stderr.strip()}")

    def start(self) -> None:
        self.run("start")
        self.started = True
        wait_for(lambda: listening(self.ports.mx) and listening(self.ports.relay), "Postfix's smtpd ports")

    def stop(self) -> None:
        if self.started:
            self.started = False
            self.run("stop")

    def logged(self, *parts: str) -> list[str]:
        """Log lines holding every one of `parts`."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [line for line in lines if all(p in line for p in parts)]


# ---- the sink: every domain but the list domain ----------------------------------------------

@dataclass
class Got:
    mail_from: str
    rcpt: str
    data: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.data)


@dataclass
class SinkHandler:
    """Takes mail like a remote MX would, refusing the addresses in `refuse`; keeps a copy of each
    mail in memory and in `folder` (one file per recipient, envelope first) for a look afterwards."""

    folder: Path
    refuse: dict[str, str]
    got: list[Got] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: ANN001 - aiosmtpd's hook
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's hook
        with self.lock:
            sender = "" if envelope.mail_from in (None, "<>") else envelope.mail_from  # <> marks a bounce
            for rcpt in envelope.rcpt_tos:
                got = Got(sender, rcpt, envelope.original_content)
                self.got.append(got)
                head = f"X-Sink-Mail-From: <{got.mail_from}>\r\nX-Sink-Rcpt-To: <{rcpt}>\r\n".encode()
                (self.folder / f"{len(self.got):03d}.eml").write_bytes(head + got.data)
        return "250 OK"

    def to(self, address: str) -> list[Got]:
        with self.lock:
            return [g for g in self.got if g.rcpt == address]


# ---- mailhub ----------------------------------------------------------------------------------

class Mailhub:
    def __init__(self, work: Path, ports: Ports) -> None:
        self.folder = work / "mailhub"
        self.config = self.folder / "config.toml"
        self.log = self.folder / "serve.log"
        self.pid_file = work / "mailhub.pid"
        self.ports = ports
        self.process: Optional[subprocess.Popen[bytes]] = None

    def configure(self) -> None:
        self.folder.mkdir()
        self.config.write_text(f"""\
[server]
domain = "{DOMAIN}"
host = "127.0.0.1"
port = {self.ports.mailhub}
max_sessions_per_ip = 100  # every session comes from Postfix, on 127.0.0.1

[database]
url = "sqlite:///mailhub.db"

[relay]
host = "127.0.0.1"
port = {self.ports.relay}
""")

    def cli(self, *args: str) -> str:
        done = subprocess.run([str(MAILHUB), *args, "--config", str(self.config)], capture_output=True,
                              text=True, timeout=WAIT)
        if done.returncode:
            raise Failed(f"mailhub {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([str(MAILHUB), "serve", "--config", str(self.config)],
                                            stdout=log, stderr=subprocess.STDOUT, cwd=self.folder)
        self.pid_file.write_text(str(self.process.pid))

        def up() -> bool:
            self.check_running()
            return listening(self.ports.mailhub)
        wait_for(up, f"mailhub serve to listen on 127.0.0.1:{self.ports.mailhub}")

    def check_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise Failed(f"mailhub serve is no longer running (it exited {self.process.returncode}); "
                         "its log is below")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.pid_file.unlink(missing_ok=True)


# ---- speaking SMTP to Postfix as a remote MTA --------------------------------------------------

def post(mail_from: str, to: str, subject: str) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = mail_from, to, subject
    mail["Date"] = email.utils.formatdate()
    mail["Message-ID"] = email.utils.make_msgid(domain="example.com")
    mail.set_content("Sent to Postfix, which hands it to mailhub.\n")
    return mail.as_bytes()


def rcpt_then_data(port: int, mail_from: str, rcpt: str, data: bytes) -> tuple[int, str]:
    """The answer to RCPT; the mail follows when it was 2xx."""
    try:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.net", timeout=WAIT) as smtp:
            smtp.mail(mail_from)
            code, text = smtp.rcpt(rcpt)
            if 200 <= code < 300:
                data_code, data_text = smtp.data(data)
                if data_code != 250:
                    raise Failed(f"Postfix took RCPT <{rcpt}> but answered DATA with {data_code} "
                                 f"{data_text.decode(errors='replace')}")
    except (OSError, smtplib.SMTPException) as exc:
        raise Failed(f"SMTP to Postfix's port {port} failed: {exc or type(exc).__name__}") from None
    return code, text.decode(errors="replace")


def said(log_line: str) -> str:
    """The remote server's answer quoted in a Postfix delivery log line."""
    return log_line.split("said: ", 1)[-1].split(" (in reply to", 1)[0]


# ---- the run ----------------------------------------------------------------------------------

class Report:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, line: str) -> None:
        print(f"[{time.monotonic() - self.start:5.1f}s] {line}", flush=True)


@dataclass
class Run:
    say: Report
    ports: Ports
    postfix: Postfix
    hub: Mailhub
    sink: SinkHandler

    def wait(self, check: Callable[[], Optional[T]], what: str) -> T:
        """wait_for, but failing at once, with the reason, when mailhub is gone."""
        def checked() -> Optional[T]:
            self.hub.check_running()
            return check()
        return wait_for(checked, what)

    def logged(self, what: str, *parts: str) -> str:
        """The first line of Postfix's log holding every one of `parts`, once it is there."""
        return self.wait(lambda: next(iter(self.postfix.logged(*parts)), None), what)

    def send(self, port: int, mail_from: str, rcpt: str, subject: str, codes: range, why: str) -> str:
        """Send like a remote MTA and check Postfix's answer to RCPT. A 4xx is retried for a while,
        as an MTA would: Postfix answers 450 while its probe of the address with mailhub is out."""
        deadline = time.monotonic() + WAIT / 2
        while True:
            code, text = rcpt_then_data(port, mail_from, rcpt, post(mail_from, rcpt, subject))
            if not 400 <= code < 500 or time.monotonic() > deadline:
                break
            self.hub.check_running()
            time.sleep(1)
        if code not in codes:
            raise Failed(f"RCPT <{rcpt}> on Postfix's port {port} got {code} {text}; expected "
                         f"{codes.start}..{codes.stop - 1} ({why})")
        return f"{code} {text}"


def set_up(r: Run) -> None:
    r.postfix.configure()
    r.postfix.start()
    r.say(f"Postfix started: mx port {r.ports.mx}, relay port {r.ports.relay}, log {r.postfix.log}")
    r.hub.configure()
    r.hub.start()
    r.say(f"mailhub serve listening on {r.ports.mailhub}, relaying through Postfix's port {r.ports.relay}; "
          f"sink on {r.ports.sink}")
    r.hub.cli("group", "create", GROUP)
    for member in (AUTHOR, *READERS, DEAD):
        r.hub.cli("member", "add", GROUP, member)
    r.say(f"group {GROUP} with {2 + len(READERS)} members ({DEAD} is refused by the sink)")


def check_copy(got: Got, subject: str) -> None:
    """A member's copy as it left Postfix: mailhub's list headers and VERP sender, Postfix's Received."""
    msg = got.message
    problems = []
    if msg.get("List-Id", "").split("<")[-1] != f"{GROUP}.{DOMAIN}>":
        problems.append(f"List-Id is {msg.get('List-Id')!r}")
    if not VERP.fullmatch(got.mail_from):
        problems.append(f"envelope sender <{got.mail_from}> is not {GROUP}-bounces+TOKEN@{DOMAIN}")
    if subject not in str(msg.get("Subject", "")):
        problems.append(f"subject is {msg.get('Subject')!r}")
    if not any(f"by {MYHOSTNAME} (Postfix)" in r and f"for <{got.rcpt}>" in r for r in msg.get_all("Received", [])):
        problems.append("no Received line of this Postfix for it (did it bypass Postfix?)")
    if problems:
        raise Failed(f"{got.rcpt}'s copy: " + "; ".join(problems))


def post_reaches_members(r: Run) -> None:
    subject = "Hello through Postfix"
    answer = r.send(r.ports.mx, AUTHOR, f"{GROUP}@{DOMAIN}", subject, range(250, 251),
                    "a post to an existing group is accepted")
    r.say(f"post sent to Postfix's mx port: RCPT {answer}")
    r.logged("Postfix to hand the post to mailhub", f"to=<{GROUP}@{DOMAIN}>", f":{r.ports.mailhub},", "status=sent")
    for reader in READERS:
        copy = r.wait(functools.partial(r.sink.to, reader), f"{reader}'s copy at the sink")[0]
        check_copy(copy, subject)
    r.say(f"Postfix handed it to mailhub; {len(READERS)} copies left Postfix for the sink with List-Id and "
          f"VERP sender <{copy.mail_from}>")


def bounce_is_scored(r: Run) -> None:
    bounced = r.logged(f"Postfix to bounce {DEAD}'s copy", f"to=<{DEAD}>", "status=bounced")
    r.logged("Postfix to hand the bounce (DSN) to mailhub's VERP address",
             f"to=<{GROUP}-bounces+", f":{r.ports.mailhub},", "status=sent")

    def scored() -> Optional[dict]:
        rows = json.loads(r.hub.cli("bounces", GROUP, "--json"))
        return next((row for row in rows if row["email"] == DEAD and row["score"] > 0), None)
    row = r.wait(scored, f"`mailhub bounces {GROUP}` to show {DEAD}")
    r.say(f"{DEAD} refused by the sink ({said(bounced)}); Postfix's DSN reached mailhub: "
          f"`mailhub bounces {GROUP}` shows score {row['score']}, {row['state']}")


def unknown_group_refused(r: Run) -> None:
    unknown = f"nosuch@{DOMAIN}"
    answer = r.send(r.ports.mx, STRANGER, unknown, "Anyone?", range(550, 551),
                    "Postfix asks mailhub at RCPT and refuses an unknown group itself, so it never bounces later")
    refused_at = time.monotonic()
    r.say(f"unknown group on the mx port: RCPT {answer}")
    answer = r.send(r.ports.mx, STRANGER, "someone@example.net", "Relay?", range(500, 600),
                    "Postfix is no open relay for other domains")
    r.say(f"other domain on the mx port: RCPT {answer}")
    r.hub.cli("group", "create", "nosuch")
    # Postfix's clock has whole seconds: past FORGET_REFUSAL + 1 the refusal is forgotten for sure.
    time.sleep(max(0.0, refused_at + FORGET_REFUSAL + 1.1 - time.monotonic()))
    answer = r.send(r.ports.mx, STRANGER, unknown, "Anyone now?", range(250, 251),
                    "a group created after a refusal is accepted once Postfix forgets the refusal")
    r.say(f"after `mailhub group create nosuch`: RCPT {answer}")


def backscatter_without_verification(r: Run) -> None:
    """Without verification (as on the trusted relay port) Postfix takes the mail, mailhub refuses it
    at RCPT, and Postfix mails a bounce to the sender: backscatter, when the sender was forged."""
    unknown = f"ghost@{DOMAIN}"
    r.send(r.ports.relay, STRANGER, unknown, "Backscatter?", range(250, 251),
           "the trusted port relays to the list domain without asking mailhub")
    dsn = r.wait(functools.partial(r.sink.to, STRANGER), f"Postfix's bounce to {STRANGER}")[0]
    refusal = r.logged("mailhub's refusal in Postfix's log", f"to=<{unknown}>", "status=bounced")
    if dsn.mail_from or "no such group" not in dsn.data.decode(errors="replace"):
        raise Failed(f"the mail to {STRANGER} is not Postfix's bounce quoting mailhub's answer")
    r.say(f"unknown group without verification (trusted port): Postfix accepted it, mailhub said "
          f"'{said(refusal)}', Postfix bounced to {STRANGER}")


def show_logs(postfix: Postfix, hub: Mailhub) -> None:
    for name, path in (("Postfix's log", postfix.log), ("mailhub serve's log", hub.log)):
        lines = path.read_text(errors="replace").splitlines()[-25:] if path.exists() else []
        print(f"--- last {len(lines)} lines of {name} ({path}) ---", *lines, sep="\n", file=sys.stderr)


def interrupted(*_: object) -> None:
    """SIGTERM (the shell script's cleanup on Ctrl-C or kill) runs main's finally, which stops everything."""
    print("postfix-e2e: interrupted", file=sys.stderr, flush=True)
    sys.exit(143)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="an empty folder Postfix's user can reach")
    work = parser.parse_args().work.resolve()
    signal.signal(signal.SIGTERM, interrupted)

    ports = Ports(*free_ports(4))
    (work / "sink").mkdir()
    run = Run(Report(), ports, Postfix(work, ports), Mailhub(work, ports),
              SinkHandler(work / "sink", refuse={DEAD: f"550 5.1.1 <{DEAD}>: mailbox unavailable"}))
    controller = Controller(run.sink, hostname="127.0.0.1", port=ports.sink)
    controller.start()
    try:
        for step in (set_up, post_reaches_members, bounce_is_scored, unknown_group_refused,
                     backscatter_without_verification):
            step(run)
        run.say(f"passed ({len(run.sink.got)} mails at the sink, "
                f"{len(run.postfix.logged('status=sent'))} deliveries in Postfix's log so far)")
        return 0
    except Exception as exc:  # noqa: BLE001 - whatever broke, say so in one line and show the logs
        run.say(f"FAILED: {exc}" if isinstance(exc, Failed) else f"FAILED: unexpected {type(exc).__name__}: {exc}")
        show_logs(run.postfix, run.hub)
        return 1
    finally:
        run.hub.stop()
        try:
            run.postfix.stop()
        except (Failed, subprocess.SubprocessError) as exc:  # the shell script's trap tries again
            run.say(f"could not stop Postfix: {exc}")
        controller.stop()
        run.say(f"stopped Postfix, mailhub and the sink ({time.monotonic() - run.say.start:.1f}s in all)")


if __name__ == "__main__":
    sys.exit(main())
