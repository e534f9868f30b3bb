"""The languages and voices Twilio's `<Say>` can speak, and the check menus.yaml must pass.

Source: Twilio's "Text-to-Speech" voice table, https://www.twilio.com/docs/voice/twiml/say/text-speech
(linked from https://www.twilio.com/docs/voice/twiml/say, whose note reads "Using an invalid
combination of voice and language may result in error and <Say> instruction failure"), read
again on 2026-12-04, with the providers' own lists behind it (Amazon Polly's "Available voices",
docs.aws.amazon.com/polly/latest/dg/available-voices.html; Google Cloud's "Supported voices and
languages", cloud.google.com/text-to-speech/docs/voices). The full table was not retrievable
from the build machine that day, only excerpts: so this table is trimmed to the languages the
menus offer, and to voices both Twilio's naming (`Polly.<Name>`, `Polly.<Name>-Neural` for
the neural engine, `Google.<locale>-<Standard|Wavenet|Neural2>-<letter>`) and the provider's
list give for that language. Earlier versions also admitted neighbours no menu offers (en-GB,
es-ES, hi-IN, id-ID, th-TH) and newer Polly voices we could not find in Twilio's table
(Danielle, Gregory): they are refused now. A language missing here is refused at start-up, not
guessed: Twilio has no voice for Nepali (ne-NP), so the shipped file reads the Nepali choice in
English and offers recordings (`play:`) instead.

Japanese: the shipped file keeps the standard Polly.Mizuki. The neural voices (Polly.Kazuha-
Neural, Polly.Tomoko-Neural, Polly.Takumi-Neural, Google.ja-JP-Neural2-B/C/D) are admitted,
but what decides is how a voice reads the numbers a caller must act on (119番, 110番,
0120-279-338, シャープ9999, 午後4時), and nobody could listen to them from the build machine.
Switch `voice.voice` to a neural voice once someone has heard those numbers read right
(docs/configuration.md, "Voices"). Spanish is Latin-American (es-MX), as the callers are.

When Twilio adds a voice, add it here with the date of the page you read.
"""

from __future__ import annotations


def _google(locale: str, standard: str, wavenet: str = "", neural2: str = "") -> set[str]:
    kinds = (("Standard", standard), ("Wavenet", wavenet), ("Neural2", neural2))
    return {f"Google.{locale}-{kind}-{letter}" for kind, letters in kinds for letter in letters}


def _polly(*names: str) -> set[str]:
    return {f"Polly.{name}" for name in names}


# language (the <Say language=...> value) -> the voices that may speak it
VOICES: dict[str, frozenset[str]] = {
    language: frozenset(voices)
    for language, voices in {
        "ja-JP": _polly("Mizuki", "Takumi", "Takumi-Neural", "Kazuha-Neural", "Tomoko-Neural")
        | _google("ja-JP", "ABCD", "ABCD", "BCD"),
        "en-US": _polly(
            "Joanna",
            "Matthew",
            "Ivy",
            "Justin",
            "Joey",
            "Kendra",
            "Kimberly",
            "Salli",
            "Joanna-Neural",
            "Matthew-Neural",
            "Ivy-Neural",
            "Justin-Neural",
            "Joey-Neural",
            "Kendra-Neural",
            "Kimberly-Neural",
            "Salli-Neural",
            "Kevin-Neural",
            "Ruth-Neural",
            "Stephen-Neural",
        )  # fmt: skip
        | _google("en-US", "ABCDEFGHIJ", "ABCDEFGHIJ", "ACDEFGHIJ"),
        "cmn-CN": _polly("Zhiyu", "Zhiyu-Neural") | _google("cmn-CN", "ABCD", "ABCD"),
        "ko-KR": _polly("Seoyeon", "Seoyeon-Neural") | _google("ko-KR", "ABCD", "ABCD", "ABC"),
        "vi-VN": _google("vi-VN", "ABCD", "ABCD", "AD"),
        "pt-BR": _polly(
            "Camila", "Vitoria", "Ricardo", "Camila-Neural", "Vitoria-Neural", "Thiago-Neural"
        )  # fmt: skip
        | _google("pt-BR", "ABC", "ABC", "ABC"),
        # Latin-American Spanish (Mexico; and US Spanish, also Latin-American in accent).
        "es-MX": _polly("Mia", "Mia-Neural", "Andres-Neural"),
        "es-US": _polly("Lupe", "Penelope", "Miguel", "Lupe-Neural", "Pedro-Neural")
        | _google("es-US", "ABC", "ABC", "ABC"),
        "fil-PH": _google("fil-PH", "ABCD", "ABCD"),
    }.items()
}

# Languages people ask for that have no voice; the message says what to do instead.
NO_VOICE = {"ne-NP": "Nepali", "ne": "Nepali", "si-LK": "Sinhala", "my-MM": "Burmese"}


def problem(language: str, voice: str | None) -> str | None:
    """Why Twilio would fail to say this, or None when the pair is in the table."""
    if language not in VOICES:
        name = NO_VOICE.get(language)
        what = f"Twilio has no {name} voice" if name else f"no Twilio voice speaks {language!r}"
        return f"{what}: give a recording (play: FILE or URL) or another language"
    if voice is None:
        # Without a voice Twilio picks one that may not speak the language: name it.
        return f"names no voice for {language}: choose one of {_some(language)}"
    if voice not in VOICES[language]:
        return f"voice {voice!r} does not speak {language}: choose one of {_some(language)}"
    return None


def _some(language: str) -> str:
    voices = sorted(VOICES[language])
    polly = [v for v in voices if v.startswith("Polly.")]
    shown = (polly or voices)[:3] + ([v for v in voices if v.startswith("Google.")][:1])
    return ", ".join(dict.fromkeys(shown))
