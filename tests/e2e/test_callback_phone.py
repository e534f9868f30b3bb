"""The whole callback loop in the terminal, against a live `hotline serve`.

One caller keeps the only line of the loneliness option busy (talking a few seconds, in real
time); a second caller holds, asks to be called back and hangs up. When the line is free the
service asks Twilio's REST API (a development service's own stand-in, in its process, with
nothing set: as the README runs it) to ring the counsellor first, then the caller: the phone
reads those calls at the service's /dev/twilio-api and plays both legs, as Twilio and the two
people.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from hotline.testing.servers import hotline_env, hotline_serve
from tests.e2e.conftest import CONFIG, ROOT

TIMEOUT = 120


def one_line_config(tmp_path: Path, wrap_up_seconds: int = 1) -> Path:
    """Loneliness served by one line only, with a short wrap-up."""
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    option = next(o for o in data["options"] if o["id"] == "loneliness")
    option["tiers"] = {"primary": ["inochi"]}
    org = next(o for o in data["organisations"] if o["id"] == "inochi")
    org["lines"] = org["lines"][:1]
    org["wrap_up_seconds"] = wrap_up_seconds
    path = tmp_path / "menus.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def play_callback(tmp_path: Path, *extra: str) -> tuple[str, str]:
    """One caller keeps the only line busy; a second holds and asks for a callback, then the
    phone plays the calls the hotline places (`extra`: more `hotline call` arguments). The
    phone's output and the server's log."""
    config = one_line_config(tmp_path)
    database = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    env = {"HOTLINE_CONFIG_PATH": str(config)}
    with hotline_serve(database, tmp_path / "serve.log", cwd=ROOT, **env) as server:
        phone = [sys.executable, "-m", "hotline.cli", "call", "--url", server.url]
        phone_env = hotline_env(database, config)
        talking = subprocess.Popen(
            [*phone, "--press", "8", "--speed", "1", "--talk", "6"],
            cwd=ROOT,
            env=phone_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        try:
            assert talking.stdout is not None
            for line in talking.stdout:  # wait until the only line is in conversation
                if "[talk] connected" in line:
                    break
            done = subprocess.run(
                [*phone, "--press", "8", "--callback", *extra],
                cwd=ROOT,
                env=phone_env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=TIMEOUT,
                text=True,
                encoding="utf-8",
            )
        finally:
            talking.kill()
            talking.wait()
        log = server.log_tail()
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-2000:]}\n{log}"
    return done.stdout, log


def test_the_terminal_phone_plays_a_whole_callback(tmp_path: Path) -> None:
    out, log = play_callback(tmp_path)
    booked = out.index("[callback]")  # the hold offered it, the caller asked and confirmed
    counsellor = out.index("[counsellor hears]")
    called = out.index("calls you back")
    assert booked < counsellor < called, out  # the counsellor accepts before the caller rings
    # Before their 1, the caller's leg names nothing: a neutral question.
    question, pressed = out.index("[caller hears]", called), out.index("[caller] presses 1")
    assert "ご本人でしたら1を" in out[question:pressed] and "9999" not in out[question:pressed]
    assert "[summary] callback connected" in out
    print(out)  # shown with -s: the loop as a newcomer sees it
    assert "+819" not in log  # the caller's number is in no server log line


def test_a_voicemail_box_that_answers_the_callback_hears_nothing(tmp_path: Path) -> None:
    out, log = play_callback(tmp_path, "--callback-answered-by", "machine_start")
    assert "machine_start answers" in out, out
    assert "[machine_start hears]" not in out  # not a word to be recorded
    assert "[summary] the machine heard nothing" in out
    assert "+819" not in log
