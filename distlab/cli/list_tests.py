"""`distlab list`: the layers and the tests each one collects.

Collection runs through pytest itself (``--collect-only``) with the distlab
plugin's ``collect`` event as the answer, so what is listed is exactly what
a run would run, markers and ``-m`` selection included.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "list",
        help="list the layers and the tests each one collects",
        description="List the layers and the tests each one collects (pytest --collect-only).",
    )
    p.add_argument(
        "--layers", dest="list_layers", metavar="L,L", help="only these layers, e.g. unit,chaos"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per layer")
    p.set_defaults(command="list")


def run(args: argparse.Namespace) -> int:
    from distlab.config.loader import load
    from distlab.runner import collect, plan

    config = load(args.config)
    layers = plan.select_layers(config, args.list_layers or getattr(args, "layers", None))
    plans = plan.plan_layers(config, layers)
    broken = False
    # Collection is mostly pytest start-up: two layers at a time halves the wait.
    listings = collect.collect_layers(plans, plan.config_dir(config), workers=2)
    for p, listing in zip(plans, listings, strict=True):
        broken = broken or bool(listing.errors) or bool(listing.problem)
        if args.json:
            print(json.dumps(listing.to_dict()), flush=True)
            continue
        s = p.settings
        required = "required" if s.required else "optional"
        print(
            f"{p.name} ({', '.join(p.targets)}; {required}; timeout {s.timeout_s:g}s): "
            f"{len(listing.tests)} tests",
            flush=True,
        )
        for t in listing.tests:
            markers = f"  [{', '.join(t.markers)}]" if t.markers else ""
            print(f"  {t.nodeid}{markers}")
        for e in listing.errors:
            print(f"  COLLECTION ERROR {e.nodeid}: {e.message}")
        if listing.problem:
            print(f"  {listing.problem}", file=sys.stderr if not args.json else sys.stdout)
    return 1 if broken else 0
