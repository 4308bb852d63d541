"""Hand one mail to the outside world: an SMTP relay, or a Maildir folder for a local install."""
from __future__ import annotations

import mailbox
import os
import re
import smtplib
import ssl
import time
from typing import Protocol

from mailhub.config import RelayConfig



class _Closed(Exception):
    """The relay had closed the connection (or said 421) before it took anything of this mail."""

class DeliveryError(Exception):
    """`permanent`: the relay refused for good (5xx). `connection`: the relay could not be
    reached at all, so other sends in the same batch would fail the same way."""

    def __init__(self, message: str, permanent: bool, connection: bool = False,
                 refused_recipient: bool = False, refused_form: bool = False) -> None:
        super().__init__(message)
        self.permanent, self.connection = permanent, connection
        # The relay refused the mail itself for good (its lines, size, encoding or content: at
        # DATA, or with a status that says so): mailhub's fault, never the recipient's.
        self.refused_form = refused_form and permanent
        # The relay refused this recipient for good (5xx at RCPT): it counts as a bounce.
        self.refused_recipient = refused_recipient and permanent and not self.refused_form


# RFC 3463 status codes that name the message, not an address: X.6.Y media (content, encoding,
# lines) and X.3.4 (too big for the system).
_ENHANCED = re.compile(r"\s*[245]\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def names_the_form(answer: str) -> bool:
    """True when a relay's answer carries an enhanced status code about the message itself."""
    found = _ENHANCED.match(answer)
    return found is not None and (found.group(1) == "6" or found.groups() == ("3", "4"))


def names_the_mailbox(answer: str) -> bool:
    """True when the enhanced status code is about the address or mailbox (X.1.Y, X.2.Y): a
    mailbox that is full or gone may be refused at DATA too, where each copy has one recipient."""
    found = _ENHANCED.match(answer)
    return found is not None and found.group(1) in ("1", "2")


class Transport(Protocol):
    def send(self, envelope_from: str, recipient: str, data: bytes) -> None: ...
    def close(self) -> None: ...


# A connection unused for this long is checked with RSET before it is used again, since relays
# drop idle connections; one in steady use is not, which saves a round trip per copy.
IDLE_CHECK = 2.0
_LEADING_DOT = re.compile(rb"(?m)^\.")


class SMTPTransport:
    """One reused connection to the relay; reconnects after any failure. Where the relay offers
    PIPELINING (RFC 2920; Postfix does), MAIL, RCPT and DATA go out in one write, so a copy costs
    two round trips instead of four: with several sender threads sharing one interpreter, each
    round trip is also a wait for the GIL."""

    def __init__(self, relay: RelayConfig, local_hostname: str) -> None:
        self.relay, self.local_hostname = relay, local_hostname
        self._conn: smtplib.SMTP | None = None
        self._used = 0.0  # time.monotonic() of the last send on _conn

    def _connect(self) -> smtplib.SMTP:
        conn = smtplib.SMTP(self.relay.host, self.relay.port, local_hostname=self.local_hostname,
                            timeout=self.relay.timeout)
        conn.ehlo()
        if self.relay.starttls:
            conn.starttls(context=ssl.create_default_context())
            conn.ehlo()
        if self.relay.username:
            conn.login(self.relay.username, self.relay.password)
        return conn

    def _ready(self) -> smtplib.SMTP:
        if self._conn is not None and time.monotonic() - self._used < IDLE_CHECK:
            return self._conn
        if self._conn is not None:
            try:
                self._conn.rset()
                return self._conn
            except (smtplib.SMTPException, OSError):  # the relay dropped an idle connection
                self.close()
        try:
            self._conn = self._connect()
        except smtplib.SMTPResponseException as exc:
            # A refused greeting, STARTTLS or login is the relay's (or our config's) problem,
            # never the recipient's: retry later, do not fail the copy.
            raise DeliveryError(f"relay {self.relay.host}:{self.relay.port} refused the session: "
                                f"{exc.smtp_code} {_text(exc.smtp_error)}", permanent=False,
                                connection=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"relay {self.relay.host}:{self.relay.port} unreachable: "
                                f"{exc or type(exc).__name__}", permanent=False, connection=True) from None
        return self._conn

    def send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        reused = self._conn is not None
        conn = self._ready()
        self._used = 0.0  # until this send succeeds: after a refusal the next one starts with RSET
        try:
            if conn.has_extn("pipelining") and (envelope_from + recipient).isascii():
                try:
                    self._pipelined(conn, envelope_from, recipient, data)
                except _Closed:
                    # A relay may close a connection after so many mails; a reused one found
                    # closed before it took anything of this mail: once more on a new one.
                    self.close()
                    if not reused:
                        raise smtplib.SMTPServerDisconnected("the relay closed the connection") from None
                    conn = self._ready()
                    self._pipelined(conn, envelope_from, recipient, data)
            else:
                conn.sendmail(envelope_from, [recipient], data)
            self._used = time.monotonic()
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            answer = _text(text)
            raise DeliveryError(f"{code} {answer}", permanent=500 <= code < 600, refused_recipient=True,
                                refused_form=names_the_form(answer)) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            # At MAIL (the envelope sender) or at DATA (the mail itself): not the recipient's doing,
            # unless the answer's status says it is about their mailbox.
            answer, at_data = _text(exc.smtp_error), isinstance(exc, smtplib.SMTPDataError)
            mailbox = at_data and names_the_mailbox(answer)
            raise DeliveryError(f"{exc.smtp_code} {answer}", permanent=500 <= exc.smtp_code < 600,
                                refused_recipient=mailbox,
                                refused_form=(at_data and not mailbox) or names_the_form(answer)) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"relay {self.relay.host}:{self.relay.port}: {exc or type(exc).__name__}",
                                permanent=False) from None

    def _pipelined(self, conn: smtplib.SMTP, envelope_from: str, recipient: str, data: bytes) -> None:
        """What conn.sendmail does, with the three commands in one write; raises the same errors."""
        size = f" SIZE={len(data)}" if conn.has_extn("size") else ""
        try:
            conn.send(f"MAIL FROM:{_path(envelope_from)}{size}\r\nRCPT TO:{_path(recipient)}\r\nDATA\r\n")
            mail_code, mail_answer = conn.getreply()
        except smtplib.SMTPServerDisconnected:
            raise _Closed from None
        if mail_code == 421:  # closing: it will read nothing more on this connection
            raise _Closed
        (rcpt_code, rcpt_answer), (data_code, data_answer) = conn.getreply(), conn.getreply()
        if data_code == 354 and (mail_code != 250 or rcpt_code not in (250, 251)):
            # A relay that wants data for nobody: hanging up abandons the transaction (no QUIT,
            # which it would now take as the mail's text).
            conn.close()
            self._conn = None
        if mail_code != 250:
            raise smtplib.SMTPSenderRefused(mail_code, mail_answer, envelope_from)
        if rcpt_code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_answer)})
        if data_code != 354:
            raise smtplib.SMTPDataError(data_code, data_answer)
        # Looked for first: a regex scan of a 150 KB digest costs more than the rest of the send.
        stuffed = _LEADING_DOT.sub(b"..", data) if data.startswith(b".") or b"\n." in data else data
        conn.send(stuffed + (b".\r\n" if stuffed.endswith(b"\r\n") else b"\r\n.\r\n"))
        code, answer = conn.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, answer)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._conn = None


# A bare address, as every envelope address of ours is: <addr> as it is, without smtplib's
# parse of it as a From line (65 of the 1,032 interpreter-lock samples of a 10,000-copy fan-out).
_BARE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def _path(address: str) -> str:
    return f"<{address}>" if _BARE.fullmatch(address) else smtplib.quoteaddr(address)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class MaildirTransport:
    """Writes each copy as a file, with the envelope in Return-Path and Delivered-To as an MDA would."""

    def __init__(self, path: str) -> None:
        for sub in ("tmp", "new", "cur"):  # several sender threads may get here at once
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        self.box = mailbox.Maildir(path, create=False)

    def send(self, envelope_from: str, recipient: str, data: bytes) -> None:
        envelope = f"Return-Path: <{envelope_from}>\r\nDelivered-To: {recipient}\r\n".encode()
        try:
            self.box.add((envelope + data).replace(b"\r\n", b"\n"))
        except OSError as exc:
            raise DeliveryError(f"maildir {self.box._path}: {exc.strerror}", permanent=False) from None

    def close(self) -> None:
        pass


def make_transport(relay: RelayConfig, local_hostname: str) -> Transport:
    return MaildirTransport(relay.maildir) if relay.maildir else SMTPTransport(relay, local_hostname)
