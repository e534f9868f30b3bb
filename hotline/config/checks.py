"""Checks of menus.yaml against what Twilio accepts: numbers, SIP URIs, voices, recordings.

Each check says what is wrong in words an operator can act on; hotline.config.loader names
the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import phonenumbers

from hotline.config import voices

if TYPE_CHECKING:
    from hotline.config.schema import HotlineConfig

E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
SIP_RE = re.compile(r"^sip:[^@\s;?]+@[^\s;?@]+(?P<params>(;[^\s;?]+)*)(\?\S*)?$")
# Twilio's <Sip> URI parameters (docs/voice/twiml/sip, global-infrastructure/edge-locations).
SIP_PARAMS = {
    "transport": {"udp", "tcp", "tls"},
    "region": {"us1", "us2", "ie1", "de1", "sg1", "jp1", "br1", "au1"},
    "edge": {
        "ashburn",
        "umatilla",
        "dublin",
        "frankfurt",
        "singapore",
        "tokyo",
        "sao-paulo",
        "sydney",
    },  # "roaming" is not available for SIP
    "secure": {"true"},  # SRTP media
}
PLAY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-./]*\.(mp3|wav)$")


def check_number(number: str) -> None:
    """An E.164 number that exists in its country's numbering plan (not only its shape)."""
    if not E164_RE.fullmatch(number):
        raise ValueError(f"{number!r} is not an E.164 number such as +81120494949")
    parsed = phonenumbers.parse(number)
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(
            f"{number!r} is not a valid number of country code +{parsed.country_code} "
            "(a digit too many or too few?)"
        )


def check_sip_uri(uri: str) -> None:
    match = SIP_RE.fullmatch(uri)
    if match is None:
        raise ValueError(f"{uri!r} is not a sip:user@host URI")
    for param in filter(None, match["params"].split(";")):
        name, _, value = param.partition("=")
        allowed = SIP_PARAMS.get(name.lower())
        if allowed is None:
            known = ", ".join(sorted(SIP_PARAMS))
            raise ValueError(f"{uri!r}: unknown SIP URI parameter {name!r} (Twilio knows {known})")
        if value.lower() not in allowed:
            raise ValueError(f"{uri!r}: {name}={value!r}, choose from {', '.join(sorted(allowed))}")


def check_play(play: str) -> None:
    """A recording is an https URL, or a file name under config/audio/ that we serve."""
    if play.startswith("https://"):
        return
    if play.startswith("http://"):
        raise ValueError(f"play {play!r}: use https:// (Twilio fetches it from the internet)")
    if not PLAY_RE.fullmatch(play) or ".." in PurePosixPath(play).parts:
        raise ValueError(
            f"play {play!r}: give an https URL or a .mp3/.wav file name under config/audio/"
        )


def voice_problems(cfg: HotlineConfig) -> Iterable[str]:
    """Every sentence said with <Say> names a language and voice Twilio has."""
    for where, prompt, lang_id in cfg.prompts():
        for i, speech in enumerate(prompt):
            if speech.text is None:
                continue  # a recording: <Play>
            problem = voices.problem(*cfg.speaker(speech, lang_id))
            if problem:
                yield f"{where}.{i}: {problem}"


def audio_problems(cfg: HotlineConfig, audio_dir: Path) -> Iterable[str]:
    """Every recording we serve ourselves is there (Twilio would play silence, then fail)."""
    for where, prompt, _ in cfg.prompts():
        for i, speech in enumerate(prompt):
            if not speech.play or speech.play.startswith("https://"):
                continue
            if not (audio_dir / speech.play).is_file():
                yield f"{where}.{i}.play: no file {audio_dir / speech.play}"
    play = cfg.hold.music.play if cfg.hold.music is not None else None
    if play and not play.startswith("https://") and not (audio_dir / play).is_file():
        yield f"hold.music.play: no file {audio_dir / play}"
