"""The teacher URL policy (pure domain code)."""

from __future__ import annotations

import pytest

from jupyter_ext.domain import InvalidUrl
from jupyter_ext.domain.urls import (
    RFC1918,
    check_addresses_allowed,
    normalize_teacher_url,
    parse_networks,
    parse_teacher_url,
    same_origin,
)


@pytest.mark.parametrize("raw,normal", [
    ("http://10.0.0.5:8888", "http://10.0.0.5:8888/"),
    ("  HTTP://Teacher.Example.EDU:80/user/t/  ", "http://teacher.example.edu/user/t/"),
    ("https://hub.example.edu:443//user//t", "https://hub.example.edu/user/t/"),
    ("https://hub.example.edu:8443/", "https://hub.example.edu:8443/"),
    ("http://[::1]:8888/", "http://[::1]:8888/"),
    ("http://[0:0:0:0:0:0:0:1]:8888/", "http://[::1]:8888/"),
    ("http://bücher.example/", "http://xn--bcher-kva.example/"),
    ("http://host1.example/", "http://host1.example/"),
    ("http://1.example/", "http://1.example/"),
    ("http://0xdeadbeef-cafe.example/", "http://0xdeadbeef-cafe.example/"),
    ("http://host/a b".replace(" ", "%20"), "http://host/a%20b/"),
])
def test_normalisation(raw, normal):
    assert normalize_teacher_url(raw) == normal
    assert normalize_teacher_url(normal) == normal  # idempotent


@pytest.mark.parametrize("raw,hint", [
    ("file:///etc/passwd", "http://"),
    ("ftp://10.0.0.5/", "'ftp://'"),
    ("javascript:alert(1)", "http://"),
    ("http://user:hunter22@10.0.0.5:8888/", "user name and password"),
    ("http://:hunter22@10.0.0.5/", "user name and password"),
    ("http://10.0.0.5:8888/#frag", "fragment"),
    ("http://10.0.0.5:8888/?token=hunter22", "query"),
    ("http://10.0.0.5:8888/?", "query"),
    ("http:///path", "host"),
    ("http://:8888/", "host"),
    ("http://", "host"),
    ("http://10.0.0.5:99999/", "port"),
    ("http://10.0.0.5:0/", "port"),
    ("http://10.0.0.5:88a8/", "port"),
    ("http://bad_host!/", "host name"),
    ("http://[fe80::1%25eth0]/", "IPv6"),
    ("http://10.0.0.5/../etc/", "'..'"),
    ("http://10.0.0.5/ spaced", "spaces"),
    ("10.0.0.5:8888", "http://"),
    ("", "address"),
    (None, "address"),
    (42, "address"),
    ("http://" + "a" * 3000, "longer"),
    # IPv4 shorthand forms the system resolver would read as an address
    ("http://2130706433:8888/", "four numbers"),
    ("http://0x7f000001/", "four numbers"),
    ("http://0x7f.1/", "four numbers"),
    ("http://127.1/", "four numbers"),
    ("http://0177.0.0.1/", "four numbers"),
    ("http://10.0.0.05/", "four numbers"),
])
def test_refusals_say_what_to_fix_without_echoing(raw, hint):
    with pytest.raises(InvalidUrl) as caught:
        parse_teacher_url(raw)
    assert caught.value.code == "invalid_url" and caught.value.status == 400
    assert hint in caught.value.message
    assert "hunter22" not in caught.value.message


def test_same_origin():
    base = parse_teacher_url("http://10.0.0.5:8888/")
    assert same_origin(base, parse_teacher_url("http://10.0.0.5:8888/other/"))
    assert not same_origin(base, parse_teacher_url("https://10.0.0.5:8888/"))
    assert not same_origin(base, parse_teacher_url("http://10.0.0.6:8888/"))
    assert not same_origin(base, parse_teacher_url("http://10.0.0.5:8889/"))


def test_network_allow_list():
    private = parse_networks(RFC1918)
    url = parse_teacher_url("http://teacher.lan:8888/")
    check_addresses_allowed(url.host, ["10.1.2.3"], private)
    check_addresses_allowed(url.host, ["192.168.1.20", "172.16.0.9"], private)
    check_addresses_allowed(url.host, ["8.8.8.8"], ())  # no allow-list: anything
    check_addresses_allowed(url.host, ["::ffff:10.0.0.1"], private)  # IPv4-mapped IPv6
    for addresses in (["8.8.8.8"], ["10.0.0.1", "8.8.8.8"], ["127.0.0.1"], ["::1"], []):
        with pytest.raises(InvalidUrl) as caught:
            check_addresses_allowed(url.host, addresses, private)
        assert "teacher.lan" in caught.value.message
    with pytest.raises(ValueError, match="CIDR"):
        parse_networks(["10.0.0.0/8", "not-a-net"])
