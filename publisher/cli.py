"""The command line (SPEC §2), and the one place that turns errors into words and exit codes.

argparse, logging set up once, then the verb's module in `publisher.commands`; what it
returns or raises becomes the exit status here: 0 success, 1 the command ran and found
problems, 2 usage or config error. No traceback reaches the user unless they pass --verbose.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import argcomplete
from argcomplete.shell_integration import shellcode

from publisher import __version__, config, logs
from publisher.errors import (
    ConfigError,
    Problem,
    PublisherError,
    StateLocked,
    StoreCorrupt,
    StoreError,
    UserError,
    permission_denied,
    printable,
)
from publisher.job import State

SHELLS = ("bash", "zsh", "fish")
log = logging.getLogger(__name__)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _common() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the command is not reset by the subcommand's default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (default: ./config.yaml, or $PUBLISHER_CONFIG)",
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="publisher",
        description="Publish Instagram posts, carousels, reels and stories from YAML drafts.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"publisher {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    add("run", "run the daemon in the foreground until SIGTERM/SIGINT (SIGHUP reloads config)")
    p = add("validate", "check config.yaml and drafts (all under content_dir by default)")
    p.add_argument("drafts", nargs="*", type=Path, metavar="DRAFT")
    p = add("status", "one row per job: draft, account, type, state, time, attempts, result")
    p.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    p.add_argument("--watch", action="store_true", help="refresh every 2 s until Ctrl-C")
    p.add_argument(
        "--state",
        action="append",
        choices=[state.value for state in State],
        metavar="STATE",
        help="only jobs in this state (repeatable): " + ", ".join(state.value for state in State),
    )
    p.add_argument("--account", action="append", metavar="ACCOUNT", help="only this account's")
    p = add("plan", "what goes out when, per account, in local time, with warnings")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="a JSON array of the planned drafts")
    shown.add_argument("--ics", action="store_true", help="an iCalendar feed (plan.ics)")
    shown.add_argument(
        "--diff", metavar="REV", help="what the working tree changes against a git revision"
    )
    shown.add_argument(
        "--against", type=Path, metavar="FILE", help="... against a saved `plan --json`"
    )
    p.add_argument("--markdown", action="store_true", help="--diff/--against as Markdown")
    p = add("publish", "publish one draft now, in the foreground, showing each step")
    p.add_argument("draft", type=Path, metavar="DRAFT")
    p = add("retry", "re-queue a failed, missed or unconfirmed-free draft")
    p.add_argument("draft", type=Path, metavar="DRAFT")
    p = add("cancel", "stop a scheduled draft (state cancelled)")
    p.add_argument("draft", type=Path, metavar="DRAFT")
    p = add("accounts", "token validity, username, token expiry and publishing quota per account")
    p.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    p = add("doctor", "check everything a real publish needs: tokens, quota, media host, clock")
    p.add_argument("--json", action="store_true", help="a JSON array of {check, ok, detail, fix}")
    p = add("completion", "print a shell completion script (bash, zsh or fish)")
    p.add_argument("shell", choices=SHELLS)
    p = add("sandbox", "run the built-in Graph API sandbox on loopback")
    p.add_argument("--port", type=int, default=8766, help="port (default 8766; 0 = any free)")
    p.add_argument("--state", type=Path, default=None, help="keep the sandbox's posts in FILE")
    p = add("init", "write a starter config.yaml, content/ with examples, and the systemd unit")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DIR")
    p = add("schema", "print the JSON Schema of a draft or of config.yaml (for editors)")
    p.add_argument("kind", choices=("draft", "config"))
    p = add("import", "one draft per row of a CSV file (all rows valid, or nothing written)")
    p.add_argument("csv", type=Path, metavar="FILE.csv")
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    p.add_argument(
        "--into", type=Path, default=None, metavar="DIR", help="a folder under content_dir"
    )
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; return the exit status."""
    out = out or sys.stdout
    parser = build_parser()
    if argv is None:
        # Under a shell's completion (the script `publisher completion SHELL` prints), answer
        # with the completions and exit; otherwise this returns at once.
        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    logs.setup(verbose)
    if not verbose:
        # The daemon's alarm clock logs every alarm it runs at INFO.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    handler = COMMANDS[args.command]
    try:
        try:
            return handler(args, out)
        except Exception as exc:
            denied = permission_denied(exc)  # PermissionError: the path and the fix, first
            if denied is None:
                raise
            log.debug("permission denied", exc_info=exc)
            print(f"publisher: {printable(denied)}", file=sys.stderr)
            return EXIT_USAGE
    except ConfigError as exc:
        _problems(exc)
        return EXIT_USAGE
    except (StateLocked, StoreCorrupt) as exc:
        print(f"publisher: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as exc:
        _problems(exc)
        return EXIT_PROBLEMS
    except (StoreError, PublisherError) as exc:
        print(f"publisher: {printable(str(exc))}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a sentence, not a traceback
        if verbose:
            log.exception("internal error")
        else:
            log.error(
                "internal error: %s: %s (run again with --verbose for details)",
                type(exc).__name__,
                exc,
            )
        return EXIT_PROBLEMS


def _problems(exc: UserError) -> None:
    for problem in exc.problems:
        print(problem, file=sys.stderr)


def _config(args: argparse.Namespace) -> config.Config:
    return config.load(getattr(args, "config", None) or config.default_path())


def _draft_path(cfg: config.Config, draft: Path) -> Path:
    """A DRAFT argument as the user typed it: a path from the working folder, or a name
    relative to content_dir as `publisher status` and the program's hints show it (so
    `publisher retry 02-carousel.yaml` works from the site's folder too)."""
    if draft.is_absolute() or draft.exists() or draft.is_symlink():
        return draft
    try:
        Path(os.path.abspath(draft)).relative_to(cfg.content_dir)
    except ValueError:
        beside = cfg.content_dir / draft
        if beside.exists() or beside.is_symlink():
            return beside
    return draft


# --- one handler per verb: arguments in, the command's module, its outcome out ------------------
# The modules are imported when their verb runs: `publisher validate` need not load the daemon.


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import validate

    cfg = _config(args)
    errors = validate.check(cfg, [_draft_path(cfg, p) for p in args.drafts], out)
    return EXIT_PROBLEMS if errors else EXIT_OK


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import status

    cfg = _config(args)
    unknown = [name for name in args.account or () if name not in cfg.accounts]
    if unknown:
        known = ", ".join(sorted(cfg.accounts))
        raise ConfigError(
            [
                Problem(
                    "publisher status",
                    "--account",
                    f"{name!r} is not an account of config.yaml (accounts: {known})",
                )
                for name in unknown
            ]
        )
    status.show(
        cfg,
        out,
        json_array=args.json,
        watch=args.watch,
        states=frozenset(State(value) for value in args.state) if args.state else None,
        accounts=frozenset(args.account) if args.account else None,
    )
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import plan

    cfg = _config(args)
    if args.markdown and args.diff is None and args.against is None:
        raise ConfigError(
            [Problem("publisher plan", "--markdown", "goes with --diff or --against")]
        )
    if args.diff is not None or args.against is not None:
        from publisher.commands import plandiff

        shown = plandiff.report(cfg, rev=args.diff, against=args.against, as_markdown=args.markdown)
        print(shown, file=out)
    elif args.ics:
        from publisher.commands import calendar

        out.write(calendar.plan_feed(cfg).decode("utf-8"))
    elif args.json:
        print(plan.as_json(cfg), file=out)
    else:
        print(plan.text(cfg), file=out)
    return EXIT_OK


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import run

    run.serve(_config(args))
    return EXIT_OK


def cmd_publish(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import publish

    cfg = _config(args)
    draft = _draft_path(cfg, args.draft)
    job = publish.publish_draft(cfg, draft, progress=lambda line: print(line, file=out))
    return EXIT_OK if job.state.value == "published" else EXIT_PROBLEMS


def cmd_retry(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import retry_cancel

    cfg = _config(args)
    print(retry_cancel.submit(cfg, "retry", _draft_path(cfg, args.draft)), file=out)
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import retry_cancel

    cfg = _config(args)
    print(retry_cancel.submit(cfg, "cancel", _draft_path(cfg, args.draft)), file=out)
    return EXIT_OK


def cmd_accounts(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import accounts

    report = accounts.check(_config(args))
    print(accounts.as_json(report) if args.json else accounts.render(report), file=out)
    return EXIT_OK if all(row.valid for row in report) else EXIT_PROBLEMS


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import doctor

    try:
        cfg = _config(args)
    except ConfigError as exc:
        failed = doctor.config_failed([str(problem) for problem in exc.problems])
        print(doctor.as_json([failed]) if args.json else doctor.render([failed]), file=out)
        raise
    report = doctor.run(cfg)
    print(doctor.as_json(report) if args.json else doctor.render(report), file=out)
    return EXIT_OK if all(item.ok for item in report) else EXIT_PROBLEMS


def cmd_completion(args: argparse.Namespace, out: TextIO) -> int:
    # argcomplete completes from this very parser, so commands and options never drift from
    # what `publisher --help` says (README "Shell completion" says where to put the script).
    print(shellcode(["publisher"], shell=args.shell), file=out)
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import sandbox

    try:
        sandbox.serve(args.port, args.state, out)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(
            f"publisher: port {args.port} on 127.0.0.1 is already in use; "
            "pick another with --port N (--port 0 takes any free port)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return EXIT_OK


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import init

    try:
        written = init.write(args.dir)
    except FileExistsError as exc:
        raise UserError([Problem(str(args.dir), "", str(exc))]) from None
    for path in written:
        print(f"wrote {path}", file=out)
    print(f"next: cd {args.dir} && publisher validate && publisher run", file=out)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import schema

    out.write(schema.render(args.kind))
    return EXIT_OK


def cmd_import(args: argparse.Namespace, out: TextIO) -> int:
    from publisher.commands import importcsv

    cfg = _config(args)
    done = importcsv.run(cfg, args.csv, into=args.into, dry_run=args.dry_run)
    for line in done.lines:
        print(line, file=out)
    return EXIT_OK if done.ok else EXIT_PROBLEMS


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "run": cmd_run,
    "validate": cmd_validate,
    "status": cmd_status,
    "plan": cmd_plan,
    "publish": cmd_publish,
    "retry": cmd_retry,
    "cancel": cmd_cancel,
    "accounts": cmd_accounts,
    "doctor": cmd_doctor,
    "completion": cmd_completion,
    "sandbox": cmd_sandbox,
    "init": cmd_init,
    "schema": cmd_schema,
    "import": cmd_import,
}
