import pytest

from mailhub.router import (Address, AddressError, RelayRefused, address_for, group_name_problem, normalize_email,
                            parse_address)

D = "lists.example.org"


@pytest.mark.parametrize("address, expected", [
    ("mentors@lists.example.org", Address("mentors", "post")),
    ("<Mentors@Lists.Example.org>", Address("mentors", "post")),
    ("mentors+k3f9a@lists.example.org", Address("mentors", "post", "k3f9a")),
    ("mentors-join@lists.example.org", Address("mentors", "join")),
    ("mentors-leave+AbC_9-x@lists.example.org", Address("mentors", "leave", "AbC_9-x")),
    ("mentors-request@lists.example.org", Address("mentors", "request")),
    ("mentors-owner@lists.example.org", Address("mentors", "owner")),
    ("mentors-bounces+tok@lists.example.org", Address("mentors", "bounces", "tok")),
    ("mentors-request+Tok_9-x@lists.example.org", Address("mentors", "request", "Tok_9-x")),  # confirmations
    ("youth-biz@lists.example.org", Address("youth-biz", "post")),
])
def test_service_addresses_parse_into_group_kind_and_token(address, expected):
    assert parse_address(address, D) == expected


@pytest.mark.parametrize("address, reason", [
    ('"mentors x"@lists.example.org', "quoted local parts are not accepted"),
    ('"mentors"@lists.example.org', "quoted local parts are not accepted"),  # same mailbox; no mail program writes it
    ("mentors-join+tok@lists.example.org", "no such address"),  # join takes no token
    ("-join@lists.example.org", "no such address"),
    ("mentors", "not a mail address"),
    ("<mentors@lists.example.org", "'<' and '>' do not match"),
])
def test_anything_else_is_refused_with_a_reason(address, reason):
    with pytest.raises(AddressError, match=reason):
        parse_address(address, D)


@pytest.mark.parametrize("address, reason", [
    ("mentors@gmail.com", "only takes mail for lists.example.org"),
    ("mentors@sub.lists.example.org", "only takes mail for"),
    ("mentors@lists.example.org.evil.com", "only takes mail for"),
    ("mentors@[127.0.0.1]", "only takes mail for"),
    ('"mentors@gmail.com"@lists.example.org', "quoted local parts"),
    ("someone%gmail.com@lists.example.org", "'%' and '!' routes are not accepted"),
    ("victim%gmail.com@lists.example.org", "'%' and '!' routes are not accepted"),
    ("gmail.com!victim@lists.example.org", "'%' and '!' routes are not accepted"),
    ("@other.org:mentors@lists.example.org", "source routes are not accepted"),
    ("<@relay.example,@lists.example.org:mentors@lists.example.org>", "source routes are not accepted"),
    ("<@lists.example.org:victim@gmail.com>", "source routes are not accepted"),
])
def test_nothing_that_could_be_relayed_parses(address, reason):
    with pytest.raises(AddressError, match=reason) as refused:
        parse_address(address, D)
    # Quoted local parts are merely unknown mailboxes; everything else is a relay attempt (550 5.7.1).
    assert isinstance(refused.value, RelayRefused) == ("quoted" not in reason)


def test_address_for_round_trips():
    for kind in ("post", "join", "leave", "request", "owner", "bounces"):
        addr = address_for("mentors", D, kind)
        assert parse_address(addr, D) == Address("mentors", kind)
    assert parse_address(address_for("mentors", D, "leave", "T0k"), D).token == "T0k"


def test_group_names_that_would_shadow_service_addresses_are_refused():
    assert group_name_problem("mentors") is None
    assert group_name_problem("mentors-join") is not None
    assert group_name_problem("Mentors") is not None
    assert group_name_problem("a b") is not None
    assert group_name_problem("mentors\n") is not None  # "$" alone would let a final newline through


def test_a_newline_before_the_at_sign_is_no_address():
    with pytest.raises(AddressError):
        parse_address("mentors\n@lists.example.org", D)


def test_member_addresses_are_normalized_and_checked():
    assert normalize_email("  Ann@Example.COM ") == "ann@example.com"
    for bad in ("ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@@example.com",
                "ann@example..com", "ann@example.com\nBcc: x@y.z"):
        with pytest.raises(AddressError):
            normalize_email(bad)
