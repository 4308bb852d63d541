"""DKIM signing benchmark: one list copy signed for each of N recipients (default 10,000), each
copy with its own List-Unsubscribe (one-click link and mailto) under the signature, as delivery
does. Times dkimpy's `dkim.sign` per copy (pure-Python RSA: how it was done before) against
mailhub.signing (the body hashed once per copy, then per recipient the header hash and one RSA
signature by `cryptography`), both in this run, and checks a sample of each with dkimpy.

    .venv/bin/python bench/sign.py [--copies 10000]
"""
from __future__ import annotations

import argparse
import secrets
import time
from datetime import datetime, timezone

import dkim

from common import DKIM_TEST_KEY, DOMAIN, machine
from mailhub.compose import ListInfo, build_copy
from mailhub.config import REPO_TEMPLATES
from mailhub.signing import SIGNED, Signer, fields, read_private_key

RECORD = (DKIM_TEST_KEY.parent / "test-record.txt").read_bytes().strip()
SELECTOR = "mh2026"
PARAGRAPH = ("Has anyone priced woven baskets for the tourist market this season? I sell at the Saturday "
             "market and my costs went up with the new dye supplier. ")
POST = (f"From: Ann Wanjiru <ann@example.com>\r\nTo: mentors@{DOMAIN}\r\nSubject: Pricing baskets\r\n"
        "Message-ID: <bench-sign@example.com>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "\r\n\r\n".join([PARAGRAPH * 3] * 6) + "\r\n").encode()


def dns(name: bytes, timeout: int = 5) -> bytes:
    return RECORD


def present(head: bytes) -> list[bytes]:
    """The SIGNED headers a header block has, as mailhub signs them."""
    wanted = {name.lower().encode() for name in SIGNED}
    names = [name.strip().lower() for name, _ in fields(head)]
    return [name for n, name in enumerate(names) if name in wanted and name not in names[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=10_000)
    args = parser.parse_args()
    key = read_private_key(DKIM_TEST_KEY)
    signer = Signer(DOMAIN, SELECTOR, key)
    info = ListInfo(name="mentors", title="", domain=DOMAIN, prefix="[mentors]", from_rewrite=True,
                    topic_key="k3f9a2", message_id="bench-sign@example.com", received_at=datetime.now(timezone.utc))
    copy = build_copy(POST, info, REPO_TEMPLATES)
    tokens = [(i, secrets.token_urlsafe(16)) for i in range(1, args.copies + 1)]

    def mail(i: int, token: str) -> bytes:
        return copy.for_recipient(f"mentors-leave+{token}@{DOMAIN}", f"https://{DOMAIN}/u/{i}-{'M' * 27}")

    print(f"{args.copies} copies of a {len(mail(*tokens[0]))}-byte list copy, each signed for its recipient; "
          f"{machine()}")

    start = time.perf_counter()
    before = []
    for i, token in tokens:
        data = mail(i, token)
        head = data.split(b"\r\n\r\n", 1)[0]
        before.append(dkim.sign(data, SELECTOR.encode(), DOMAIN.encode(), key,
                                canonicalize=(b"relaxed", b"relaxed"), include_headers=present(head)) + data)
    dkimpy = time.perf_counter() - start

    start = time.perf_counter()
    body_hash = signer.body_hash(copy.body.removeprefix(b"\r\n"))  # once per copy, as Composer.copy does
    after = [signer.sign(mail(i, token), body_hash) for i, token in tokens]
    ours = time.perf_counter() - start

    sample = range(0, args.copies, max(args.copies // 20, 1))
    assert all(dkim.verify(before[n], dnsfunc=dns) and dkim.verify(after[n], dnsfunc=dns) for n in sample)
    print(f"before, dkimpy per copy:           {dkimpy:7.2f} s  ({dkimpy / args.copies * 1000:.2f} ms a copy)")
    print(f"after, mailhub.signing per copy:   {ours:7.2f} s  ({ours / args.copies * 1000:.3f} ms a copy), "
          f"{dkimpy / ours:.0f}x faster")
    print(f"both verify with dkim.verify (checked {len(sample)} of each)")


if __name__ == "__main__":
    main()
