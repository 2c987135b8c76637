"""`distlab init [DIR]`: scaffold a distlab project for your own system.

Asks on a terminal; every answer also has a flag, so scripts and CI never
prompt (``--yes`` takes the defaults for anything not given).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distlab.errors import ExitCode, UsageError
from distlab.scaffold.answers import WIRINGS

EPILOG = """\
examples:
  distlab init --command "node server.js --id {id} --port {port} --peer-port {peer_port} --peers {peers}" --yes
  distlab init mylab --nodes 5 --health http:/health --command "./mynode --port {port} ..."
  distlab init --wiring ingress --identify 'HELLO (\\S+)' --command "..." --yes
then: distlab --ci   (runs the scaffold's five layers; fill in client.py next)
"""

DEFAULT_NODES = 3
DEFAULT_HEALTH = "tcp"
DEFAULT_WIRING = "per-link"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "init",
        help="scaffold config.toml, a workload client and one test per layer for your system",
        description="Write config.toml, conftest.py, a workload client stub (client.py) and one\n"
        "test per layer into DIR, for a system distlab has never seen. Prompts on a\n"
        "terminal; every answer has a flag. Never overwrites a file without --force.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("directory", nargs="?", default=".", metavar="DIR", help="where (default: .)")
    p.add_argument(
        "--command",
        dest="node_command",
        metavar="CMD",
        help="the command that starts one node, with placeholders such as {id} {port} "
        "{peer_port} {peers} {data_dir}",
    )
    p.add_argument("--name", help="project name (default: the directory's name)")
    p.add_argument(
        "--nodes", type=_nodes, metavar="N", help=f"cluster size, 1-64 (default {DEFAULT_NODES})"
    )
    p.add_argument(
        "--health",
        metavar="HOW",
        help=f"tcp | http:/PATH | command:CMD | none (default {DEFAULT_HEALTH})",
    )
    p.add_argument(
        "--wiring",
        choices=("per-link", "ingress"),
        help=f"per-link: a peer list per node; ingress: one shared list (default {DEFAULT_WIRING})",
    )
    p.add_argument(
        "--identify",
        metavar="REGEX",
        help="ingress wiring: regex over a peer's first bytes, group 1 = its node id",
    )
    p.add_argument("--yes", "-y", action="store_true", help="never prompt; defaults for the rest")
    p.add_argument("--force", action="store_true", help="overwrite files that already exist")


def _nodes(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to 64, got {text!r}"
        ) from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"must be from 1 to 64, got {n}")
    return n


def _asked_nodes(text: str) -> int:
    try:
        return _nodes(text)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"nodes {e}") from None


def run(args: argparse.Namespace) -> int:
    from distlab.scaffold import Answers, parse_health, render, write

    directory = Path(args.directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory")
    ask = _prompter() if not args.yes and sys.stdin.isatty() and sys.stdout.isatty() else None
    command = args.node_command
    if command is None and ask:
        command = ask("Node command, e.g. node server.js --port {port} --peers {peers}", "")
    if not command:
        raise UsageError(
            "--command is required (the command that starts one node, e.g. "
            "'node server.js --id {id} --port {port} --peer-port {peer_port} --peers {peers}')"
        )
    name = args.name or (ask("Project name", _dir_name(directory)) if ask else _dir_name(directory))
    nodes = args.nodes or (
        _asked_nodes(ask("Nodes", str(DEFAULT_NODES), _asked_nodes)) if ask else DEFAULT_NODES
    )
    health = args.health or (
        ask("Health check: tcp | http:/PATH | command:CMD | none", DEFAULT_HEALTH, parse_health)
        if ask
        else DEFAULT_HEALTH
    )
    wiring = args.wiring or (
        ask("Wiring: per-link | ingress", DEFAULT_WIRING, _asked_wiring) if ask else DEFAULT_WIRING
    )
    identify = args.identify or ""
    if wiring == "ingress" and not identify and ask:
        identify = ask("Regex over a peer's first bytes, group 1 = its id", "")
    answers = Answers(
        name=name,
        command=command,
        nodes=nodes,
        health=parse_health(health),
        wiring=wiring,
        identify=identify,
    )
    files = render(answers, directory)
    _check_config(files["config.toml"], directory / "config.toml")
    written = write(directory, files, force=args.force)
    for path in written:
        print(f"wrote {path}")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    print(f"next: {where}distlab --ci   then fill in client.py (see docs/guide.md)")
    return int(ExitCode.OK)


def _check_config(text: str, target: Path) -> None:
    # Load what we are about to write with the real loader: a scaffold that
    # distlab itself would reject is a bug of ours or a bad answer, and either
    # way the user hears it now, in one line, before any file is written.
    from distlab.config.loader import load

    with tempfile.TemporaryDirectory(prefix="distlab-init-") as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(text)
        try:
            load(path)
        except UsageError as e:
            raise UsageError(
                e.message.replace(str(path), str(target)) + " (in the config init would write)"
            ) from None


def _dir_name(directory: Path) -> str:
    return directory.resolve().name or "my-system"


def _asked_wiring(text: str) -> str:
    if text not in WIRINGS:
        raise UsageError(f"wiring must be one of {', '.join(WIRINGS)}, got {text!r}")
    return text


# On a terminal a bad answer is asked again (with the one-line reason) this
# often before init gives up with that reason and exit 2, as a bad flag would.
ASK_TRIES = 3

Prompt = Callable[..., str]


def _prompter() -> Prompt:
    def ask(question: str, default: str, check: Callable[[str], object] | None = None) -> str:
        shown = f" [{default}]" if default else ""
        tries = 0
        while True:
            tries += 1
            try:
                answer = input(f"{question}{shown}: ").strip() or default
            except EOFError:
                answer = default
            try:
                if check is not None:
                    check(answer)
                return answer
            except UsageError as e:
                if tries >= ASK_TRIES:
                    raise
                print(f"  {e.message}; try again")

    return ask
