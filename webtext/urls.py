"""URL normalisation and the host rules shared by every stage.

`normalize_url` gives the one spelling of a URL that the links table is keyed on, so the same page
posted twice with cosmetic differences counts once. The rules, applied in this order:

1. Surrounding whitespace is stripped; only `http` and `https` URLs with a host are accepted
   (anything else raises `ValueError`). The scheme and the host are lowercased; a trailing dot on
   the host is removed; internationalised hosts are IDNA-encoded (punycode). A host left empty,
   holding characters no host may hold (a space, a quote, a backslash) or a bracketed literal
   that is not IPv6 is refused, so that normalising a normal form always gives it back.
2. Default ports are removed (`:80` for http, `:443` for https); user info is dropped.
3. The fragment (`#...`) is removed: it never changes what the server sends.
4. Tracking parameters are removed from the query: every `utm_*`, and the names in
   `TRACKING_PARAMS` (fbclid, gclid, ...). The query is split on `&` only and every other item is
   kept byte for byte (`?hp`, `?/path.xml&x=1`, `;` and `+` inside values stay as they are, since
   servers read them differently); the items are sorted by name (stable for repeated names), so
   parameter order does not make two URLs differ.
5. Dot segments are resolved (`/a/../b` -> `/b`); an empty path becomes `/`; percent-escapes are
   uppercased and escapes of unreserved characters are decoded, in the path and the query
   (except a hex digit right after a stray '%', which would make a new escape).
   A trailing slash is kept: the normalised URL is also the one the crawler asks for, and servers
   disagree about `/a/b` and `/a/b/` (many answer one of them with a 404). The same article reached
   both ways is caught later by its final URL and its text.
6. `http` and `https` stay distinct, and so do `www.` and bare hosts: either can serve another
   page, and the dedup stage catches the same article reached both ways by its final URL and text.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "mc_cid", "mc_eid", "igshid",
        "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id", "vero_id",
        "wt_mc", "wt.mc_id", "ncid", "cmpid", "s_cid", "spm", "share", "ref_src", "ref_url",
        "emc", "partner",  # the New York Times' feed tags on millions of 2000s links
    }
)

# Hosts that belong to Reddit itself: a link into Reddit is not an outbound link.
REDDIT_DOMAINS = ("reddit.com", "redd.it", "redditmedia.com", "redditstatic.com", "reddituploads.com", "reddit.co")
# Every Wikipedia: all languages (en., de., ...), the mobile sites (en.m.), and the bare domains.
WIKIPEDIA_DOMAINS = ("wikipedia.org", "wikipedia.com")

_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")
# Characters left unescaped in paths and query items: RFC 3986's reserved and unreserved sets.
_SAFE = "/%:@!$&'()*+,;=-._~"


_HEX = "0123456789abcdefABCDEF"


def _normalise_escapes(part: str) -> str:
    """Uppercase %-escapes and decode those of unreserved characters, except where the decoded
    character would complete a stray '%' before it into a new escape ("%e%42" stays "%e%42", not
    "%eB", which the next pass would read as one escape)."""
    out: list[str] = []
    pos = 0
    for m in _ESCAPE.finditer(part):
        out.append(part[pos : m.start()])
        pos = m.end()
        ch = chr(int(m.group(1), 16))
        tail = "".join(out[-2:])[-2:]
        strays = tail.endswith("%") or (len(tail) == 2 and tail[0] == "%" and tail[1] in _HEX)
        out.append(ch if ch in _UNRESERVED and not (ch in _HEX and strays) else "%" + m.group(1).upper())
    out.append(part[pos:])
    return "".join(out)


# A host as RFC 3986 allows one (reg-name: unreserved, %-escapes, sub-delims) or an IPv6 literal's
# inside; anything else (a space, a quote, a backslash) is not a host but junk a parser let through.
_HOST_OK = re.compile(r"[a-z0-9\-._~%!$&'()*+,;=]+|[0-9a-f:.]+")


def _host(netloc_host: str) -> str:
    host = netloc_host.strip().lower().rstrip(".")
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    return host


def _checked_host(url: str, netloc_host: str) -> str:
    """`_host`, or ValueError where nothing usable is left: normalising its output must give it
    back, so a host that is empty after its trailing dots go, or holds characters no host may
    hold, is refused rather than spelled in a way the next parse reads differently."""
    try:
        host = _host(netloc_host)
    except UnicodeError:
        raise ValueError(f"bad host in URL {url!r}") from None
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    if not _HOST_OK.fullmatch(host):
        raise ValueError(f"bad host in URL {url!r}")
    if ":" in host:
        import ipaddress

        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"bad host in URL {url!r}") from None
    return host


# Already in normal form (a fast path that skips the parsing; the rules below return such a URL
# unchanged): lowercase http(s) scheme and host, no port, user info, fragment or escapes, a path
# of RFC 3986 characters without dot segments, query items (if any) non-empty, untracked, sorted.
_PLAIN = re.compile(r"https?://[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*(\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]+)?")
_DOT_SEGMENT = re.compile(r"/\.\.?(?:[/?]|$)")


def _already_normal(url: str) -> bool:
    m = _PLAIN.fullmatch(url)
    if m is None or _DOT_SEGMENT.search(url, 0, m.start(1) if m.start(1) >= 0 else len(url)):
        return False
    if m.start(1) < 0:
        return True
    names = []
    for item in url[m.start(1) + 1 :].split("&"):
        if not item:
            return False
        name = item.split("=", 1)[0]
        low = name.lower()
        if low.startswith("utm_") or low in TRACKING_PARAMS:
            return False
        names.append(name)
    return all(a <= b for a, b in zip(names, names[1:]))


def normalize_url(url: str) -> str:
    """The canonical spelling of `url` (rules in the module docstring). Raises ValueError if unusable."""
    if not isinstance(url, str):
        raise ValueError(f"not a URL: {url!r}")
    return url if _already_normal(url) else _normalize(url)


def _normalize(url: str) -> str:
    """`normalize_url` by the full rules (parse, rebuild)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number, or out of range
        raise ValueError(f"bad port in URL {url!r}: {exc}") from None
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    host = _checked_host(url, host)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and not (scheme == "http" and port == 80) and not (scheme == "https" and port == 443):
        host = f"{host}:{port}"
    path = _remove_dot_segments(_normalise_escapes(quote(parts.path, safe=_SAFE)))
    items = []
    for item in parts.query.split("&"):
        if not item:
            continue
        name = unquote(item.split("=", 1)[0]).lower()
        if name.startswith("utm_") or name in TRACKING_PARAMS:
            continue
        items.append(_normalise_escapes(quote(item, safe=_SAFE + "?")))
    items.sort(key=lambda it: it.split("=", 1)[0])
    return urlunsplit((scheme, host, path, "&".join(items), ""))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: resolve `.` and `..` segments; the result always starts with `/`."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined


def host_of(url: str) -> str:
    """The lowercased host of a URL, without port; '' if it has none."""
    try:
        return _host(urlsplit(url.strip()).hostname or "")
    except (ValueError, UnicodeError):
        return ""


def domain_of(url: str) -> str:
    """The host without a leading `www.`: the `domain` column and the unit of crawl politeness."""
    host = host_of(url)
    return host[4:] if host.startswith("www.") else host


def host_in(host: str, domains: tuple[str, ...]) -> bool:
    """True when `host` is one of `domains` or a subdomain of one."""
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in domains)


def is_wikipedia(url: str) -> bool:
    """Any Wikipedia page: every language, the mobile sites (xx.m.wikipedia.org) and the bare domain."""
    return host_in(host_of(url), WIKIPEDIA_DOMAINS)


def is_reddit(url: str) -> bool:
    """A link into Reddit itself (reddit.com and its subdomains, redd.it, i.redd.it, v.redd.it, ...)."""
    return host_in(host_of(url), REDDIT_DOMAINS)


def unquote_path(url: str) -> str:
    """The decoded path of a URL, for extension checks."""
    return unquote(urlsplit(url).path)
