#!/usr/bin/env python3
"""Verify a flash sale's waiting-room shuffle, independently of the server's code.

The reference for shared/fairness/cohortshuffle.h, and the buyer's procedure in
docs/WAITING_ROOM.md ("Verifying the shuffle"). Python 3 standard library only.

  verify_reference.py SALE --api http://127.0.0.1:8080 [--commitment HEX]
  verify_reference.py SALE --input publication.json [--commitment HEX]
  ... [--entry ID]   also require your entry id (from your receipt) to be listed

Exit 0 when everything recomputes; 1, with the first problem on stderr, when anything does not.
"""
import argparse
import hashlib
import hmac
import json
import re
import sys
import urllib.parse
import urllib.request

SCHEME = "flashsale-waiting-room-v1"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
HEADER = ("sale_id", "scheme", "state", "commitment", "seed", "digest", "shuffle_seed",
          "cohort_size")


def fetch(api, sale):
    """Every page of GET /api/v1/sales/{sale}/fairness, merged into one document."""
    url = f"{api.rstrip('/')}/api/v1/sales/{sale}/fairness"
    merged = None
    while url:
        with urllib.request.urlopen(url, timeout=30) as reply:
            page = json.load(reply)
        if merged is None:
            merged = dict(page, entries=[])
        elif any(page.get(k) != merged.get(k) for k in HEADER):
            sys.exit(f"page {url}: its header differs from the first page's")
        merged["entries"] += page["entries"]
        url = urllib.parse.urljoin(url, page["next"]) if page.get("next") else None
    return merged


def verify(pub, sale, expected_commitment):
    """None when the publication recomputes, else the first problem in words."""
    if pub.get("scheme") != SCHEME:
        return f"scheme is {pub.get('scheme')!r}, not {SCHEME!r}"
    if pub.get("sale_id") != sale:
        return f"sale_id: the publication is of sale {pub.get('sale_id')}, not {sale}"
    commitment = pub.get("commitment")
    if expected_commitment and commitment != expected_commitment.lower():
        return f"commitment: published {commitment}, expected {expected_commitment}"
    if pub.get("state") != "sealed" or pub.get("seed") is None:
        return f"not sealed yet (state {pub.get('state')}); the commitment is {commitment}"
    for field in ("commitment", "seed", "digest", "shuffle_seed"):
        if not isinstance(pub.get(field), str) or not HEX64.match(pub[field]):
            return f"{field}: not 64 lowercase hex digits"
    n = pub.get("cohort_size")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        return "cohort_size: not a whole number"
    seed = bytes.fromhex(pub["seed"])
    if hashlib.sha256(seed).hexdigest() != commitment:
        return "seed: SHA-256(seed) is not the commitment"
    entries = pub.get("entries") or []
    ids = []
    for e in entries:
        if not (isinstance(e, list) and len(e) == 2 and isinstance(e[0], str)
                and ENTRY_ID.match(e[0]) and isinstance(e[1], int)):
            return f"entry: malformed {e!r}"
        ids.append(e[0].encode())
    if len(set(ids)) != len(ids):
        return "entry: an entry id is listed twice"
    if len(entries) != n:
        return f"cohort_size: {n} published, {len(entries)} entries listed"
    if sorted(e[1] for e in entries) != list(range(1, n + 1)):
        return f"rank: the ranks are not exactly 1..{n}"
    digest = hashlib.sha256(b"".join(i + b"\n" for i in sorted(ids))).hexdigest()
    if digest != pub["digest"]:
        return f"digest: the entry ids hash to {digest}, published {pub['digest']}"
    message = f"{SCHEME}\n{sale}\n{n}\n{digest}".encode()
    shuffle_seed = hmac.new(seed, message, hashlib.sha256).digest()
    if shuffle_seed.hex() != pub["shuffle_seed"]:
        return f"shuffle_seed: recomputed {shuffle_seed.hex()}, published {pub['shuffle_seed']}"
    ranked = sorted(ids, key=lambda i: (hmac.new(shuffle_seed, i, hashlib.sha256).digest(), i))
    computed = {entry_id: rank for rank, entry_id in enumerate(ranked, 1)}
    for entry_id, rank in sorted(entries, key=lambda e: e[1]):
        if computed[entry_id.encode()] != rank:
            return f"rank of {entry_id}: published {rank}, computed {computed[entry_id.encode()]}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sale", type=int)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--api", help="the sale's API base URL, e.g. https://shop.example")
    source.add_argument("--input", help="a publication saved before (JSON, pages merged)")
    ap.add_argument("--commitment", help="the commitment you saw before the sale (64 hex)")
    ap.add_argument("--entry", help="your entry id, from your receipt: must be listed")
    args = ap.parse_args()
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            pub = json.load(f)
    else:
        pub = fetch(args.api, args.sale)
    problem = verify(pub, args.sale, args.commitment)
    if problem:
        print(f"sale {args.sale}: does NOT verify: {problem}", file=sys.stderr)
        return 1
    print(f"sale {args.sale}: the shuffle of {pub['cohort_size']} entries verifies")
    if args.entry:
        ranks = [rank for entry_id, rank in pub["entries"] if entry_id == args.entry]
        if not ranks:
            print(f"entry {args.entry} is NOT listed in the cohort", file=sys.stderr)
            return 1
        print(f"entry {args.entry} has rank {ranks[0]} of {pub['cohort_size']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
