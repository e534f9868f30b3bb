"""The README's front door is true: every command of its ```sh blocks, and every command it
names in running text (a code span starting `.venv/bin/`, `scripts/` or `.ci/`), is run here
against a live development service started as the README says (`scripts/serve`, its arguments
going to `hotline serve`), or is listed below with the reason it is not. A command added to the
README that is neither run nor listed fails `test_every_readme_command_is_run_or_listed`.

The service runs on a temporary SQLite database, secrets file and spool (the README's
`var/` left alone), on a free port (`scripts/serve --port N`) told to the commands as
HOTLINE_PUBLIC_URL, with the shipped config/menus.yaml but for one change: a 2-second wrap-up
instead of 120 s, so that the multi-caller demo's second round starts at once and the whole
file stays within two minutes. Each command runs as written, through bash, from the
repository's root.
"""

from __future__ import annotations

import os
import pty
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from hotline.testing.servers import free_port, running
from tests.e2e.conftest import CONFIG, ROOT

pytestmark = pytest.mark.e2e
README = ROOT / "README.md"
RUN_AT_MOST = 90  # seconds for one command

# Commands of the README not run here, each with why.
NOT_RUN = {
    "scripts/test": "the whole suite, which runs this file: CI runs it (.ci/run)",
    "scripts/test -k whisper": "the suite with pytest's arguments: CI runs the suite",
    "scripts/test --randomly-seed=N": "the suite with pytest's arguments: CI runs the suite",
    ".ci/run": "CI itself: exactly scripts/test",
    ".venv/bin/python -m pytest tests/unit/test_flow.py": "one file of the suite: it runs it",
    "scripts/ensure-postgres": "run by scripts/test before pytest",
    "scripts/ensure-chromium": "run by scripts/test before pytest (apt-get as root)",
    "scripts/check-prometheus": "run by scripts/test before pytest",
    "scripts/image": "builds the container image with podman or docker, not here",
    "scripts/serve --port 8080 --host 0.0.0.0": (
        "a fixed port on every interface: scripts/serve runs here with --port on loopback"
    ),
    ".venv/bin/pip install -e '.[charts]'": (
        "changes the environment: scripts/test installs .[dev,charts] already"
    ),
}
# `scripts/serve` is run: it is the live service every command below talks to.
SERVER = "scripts/serve"


def readme_commands(text: str) -> list[str]:
    """Every command of the ```sh blocks (its comment dropped) and of the running text's code
    spans that start with a command of the repository; spaces normalised."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`]+)`", prose):
        if re.match(r"(\.venv/bin/|scripts/|\.ci/)", span):
            commands.append(shlex.join(shlex.split(span)))
    return list(dict.fromkeys(commands))


Check = Callable[[str], bool]


def has(*parts: str) -> Check:
    return lambda out: all(p in out for p in parts)


# What each command run must show (besides exiting 0).
RUN: dict[str, Check] = {
    # No --press, a terminal: asks for each key (typed here through a pseudo-terminal).
    ".venv/bin/hotline call": has("press a key", "[gather] pressed 8", "[summary] 1 call(s)"),
    ".venv/bin/hotline call --press 8": has("[gather] pressed 8", "[summary] 1 call(s)"),
    ".venv/bin/hotline call --press 2 --press 1": has(
        "[gather] pressed 2", "[gather] pressed 1", "[say en-US]", "[enqueue hotline-foreign]"
    ),
    ".venv/bin/hotline call --press 5 --press -": has("[gather] pressed 5", "(silence)"),
    ".venv/bin/hotline call --fallback": has("[dial", "[summary] 1 call(s)"),
    ".venv/bin/hotline fallback-twiml": has("<Response>", "</Response>"),
    ".venv/bin/hotline routes": has("key 8:", "ready since"),
    ".venv/bin/hotline twilio setup": has("hotline-loneliness", "MaxSize"),
    ".venv/bin/hotline lines ready --missed": lambda out: True,
    ".venv/bin/hotline lines ready inochi-01": has("inochi-01"),
    ".venv/bin/hotline call --press 8 --callers 20 --talk 20 --hold 60 --speed 0.5": has(
        "caller 20: ", "[pause 5s]", "[lines]", "[summary] 20 call(s), 20 connected"
    ),
    # The conference's in-call actions: each plays its plan through and says so.
    ".venv/bin/hotline call --press 8 --transfer partner:inochi-desk:warm": has(
        "[caller hears, on hold]",
        "[conference] consulting: caller (on hold)",
        "[conference] handed_over: caller, partner",
        "the plan played",
    ),
    ".venv/bin/hotline call --press 8 --transfer interpreter:example-interpreters:three-way": has(
        "[conference] three_way: caller, counsellor", "(dropped)", "the plan played"
    ),
    ".venv/bin/hotline call --press 8 --transfer interpreter:example-interpreters:cold": has(
        "[conference] handed_over: caller, interpreter", "the plan played"
    ),
    ".venv/bin/hotline call --press 8 --transfer queue:women": has(
        "[enqueue hotline-women]", "cold transfer to the queue of", "the plan played"
    ),
    # (shlex quotes the prefecture's characters: bash reads the same word)
    ".venv/bin/hotline call --press 3 --transfer 'emergency:長野県:fire'": has(
        "no direct line of the 長野県 fire command centre", "[card] what to do:", "119"
    ),
    ".venv/bin/hotline call --press 3 --supervise coach": has(
        "[twilio] the supervisor's leg coaches the counsellor's leg",
        "listening: 当番スーパーバイザー1 (coach)",
        "the plan played",
    ),
}
TYPED = {".venv/bin/hotline call": "8\n" + "\n" * 40}  # keys typed at the prompts


def test_every_readme_command_is_run_or_listed() -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert SERVER in commands
    unknown = [c for c in commands if c not in RUN and c not in NOT_RUN and c != SERVER]
    assert not unknown, f"README commands neither run by {__name__} nor listed: {unknown}"
    stale = [c for c in [*RUN, *NOT_RUN] if c not in commands]
    assert not stale, f"listed here but no longer in the README: {stale}"


@pytest.fixture(scope="module")
def readme_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The service as `scripts/serve` runs it (development, SQLite), on temporary files."""
    tmp = tmp_path_factory.mktemp("readme")
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["staffing"]["wrap_up_seconds"] = 2
    config = tmp / "menus.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "TWILIO_"))}
    env |= {
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'hotline.db'}",
        "HOTLINE_SECRETS_FILE": str(tmp / "secrets"),
        "HOTLINE_SPOOL_DIR": str(tmp / "spool"),
        "HOTLINE_CONFIG_PATH": str(config),
        "HOTLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PYTHONIOENCODING": "utf-8",
    }
    cmd = [*shlex.split(SERVER), "--port", str(port)]
    with running(cmd, port=port, env=env, cwd=ROOT, log=tmp / "serve.log") as server:
        env["READ_ME_SERVER_LOG"] = str(server.log)
        yield env


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    typed = TYPED.get(command)
    if typed is None:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=RUN_AT_MOST,
        )
    # A terminal for stdin, as a person at the keyboard: the keys are typed ahead.
    controller, terminal = pty.openpty()
    try:
        os.write(controller, typed.encode())
        return subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env=env,
            stdin=terminal,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=RUN_AT_MOST,
        )
    finally:
        os.close(terminal)
        os.close(controller)


@pytest.mark.parametrize("command", list(RUN))
def test_the_readme_command_does_what_it_says(command: str, readme_env: dict[str, str]) -> None:
    done = run(command, readme_env)
    out = done.stdout
    log = Path(readme_env["READ_ME_SERVER_LOG"]).read_text(errors="replace")[-3000:]
    shown = f"$ {command}  (exit {done.returncode})\n{out[-4000:]}\n{done.stderr[-2000:]}\n{log}"
    assert done.returncode == 0, shown
    assert RUN[command](out), shown
    assert "Traceback" not in out + done.stderr, shown


def test_the_live_service_is_the_one_scripts_serve_started(readme_env: dict[str, str]) -> None:
    """What the commands talked to is `hotline serve` as scripts/serve ran it, in
    development, with its own REST stand-in (no Twilio account)."""
    log = Path(readme_env["READ_ME_SERVER_LOG"]).read_text(errors="replace")
    assert "Uvicorn running on " + readme_env["HOTLINE_PUBLIC_URL"] in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
