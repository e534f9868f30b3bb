"""Japan's ringback, as the caller waiting in the call's conference hears it: 400 Hz modulated
by 16 Hz, one second on and two off (never silence throughout), and the TwiML around it."""

from __future__ import annotations

import io
import struct
import wave

from hotline.config import HotlineConfig
from hotline.ivr import twiml_conference
from hotline.ivr.ringback import ringback_wav
from hotline.ivr.twiml import Renderer
from hotline.voice.urls import Urls


def samples() -> tuple[int, list[int]]:
    with wave.open(io.BytesIO(ringback_wav())) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    return rate, list(struct.unpack(f"<{len(frames) // 2}h", frames))


def test_one_second_of_tone_then_two_of_silence() -> None:
    rate, pcm = samples()
    assert len(pcm) == 3 * rate
    on, off = pcm[:rate], pcm[rate:]
    assert max(abs(s) for s in on) > 8000 and not any(off)


def test_the_tone_is_400_hz_modulated_by_16_hz() -> None:
    rate, pcm = samples()
    on = pcm[:rate]
    crossings = sum(1 for a, b in zip(on, on[1:], strict=False) if a < 0 <= b)
    assert 380 <= crossings <= 420  # about 400 cycles in the second
    # The envelope: 16 quiet moments a second (the 16 Hz modulation).
    window = rate // 160  # 6.25 ms
    loud = [max(abs(s) for s in on[i : i + window]) for i in range(0, rate, window)]
    dips = sum(1 for a, b in zip(loud, loud[1:], strict=False) if a >= 2000 > b)
    assert 14 <= dips <= 17


def test_the_ringback_loops_and_the_on_hold_words_never_leave_silence(
    cfg: HotlineConfig,
) -> None:
    r = Renderer(cfg, Urls("https://hotline.example.jp"), 5)
    ringback = twiml_conference.ringback(r)
    play = ringback.to_xml()
    assert 'loop="0"' in play and "/voice/ringback.wav" in play
    for language in [None, *cfg.languages]:
        doc = twiml_conference.on_hold(r, language).to_xml()
        assert "<Say" in doc and "<Pause" in doc and "<Redirect" in doc, language
        assert "<Gather" not in doc and "<Dial" not in doc and "<Hangup" not in doc
