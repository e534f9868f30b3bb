"""`hotline fallback-twiml`: the document an operator uploads as Twilio's fallback."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from hotline.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_fallback_twiml_prints_a_self_contained_document(cfg, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HOTLINE_CONFIG_PATH", str(ROOT / "config" / "menus.yaml"))
    monkeypatch.setenv("HOTLINE_PUBLIC_URL", "https://hotline.example.jp")
    assert main(["fallback-twiml", "--ring-seconds", "25"]) == 0
    out = capsys.readouterr().out
    assert "hotline.example.jp" not in out and "/voice/" not in out
    doc = ET.fromstring(out.encode())
    assert doc[0].tag == "Say" and doc[0].get("language") == "ja-JP"
    (dial,) = doc.findall("Dial")  # one: after a conversation, nothing rings another line
    backup = [line.target for line in cfg.org(cfg.backup_org).lines]
    assert [n.text for n in dial] == backup
    assert dial.get("sequential") == "true"  # in turn, never at once
    assert (dial.get("timeout"), dial.get("callerId")) == ("25", "+815055559999")


def said(doc: ET.Element) -> list[str]:
    return [el.text or "" for el in doc if el.tag == "Say"]


def test_the_static_fallback_says_the_emergency_numbers_before_it_rings(capsys, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOTLINE_CONFIG_PATH", str(ROOT / "config" / "menus.yaml"))
    assert main(["fallback-twiml"]) == 0
    doc = ET.fromstring(capsys.readouterr().out.encode())
    tags = [el.tag for el in doc]
    before, after = said(doc)[: tags.index("Dial")], doc[tags.index("Dial") + 1 :]
    assert any("119番" in text and "110番" in text for text in before)
    # After the lines, a conversation may just have ended: a neutral goodbye, then the end.
    assert [el.tag for el in after] == ["Say", "Hangup"]
    goodbye = after[0].text or ""
    for name in ("9999", "孤独", "孤立", "相談窓口", "ホットライン", "0120"):
        assert name not in goodbye


def test_the_static_fallback_carries_no_sip_password(tmp_path: Path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    data = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    backup = next(o for o in data["organisations"] if o["id"] == data["backup_org"])
    backup["lines"][0]["sip"] = {"username": "hotline", "password_env": "SISC_SIP_PASSWORD"}
    (tmp_path / "menus.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    monkeypatch.setenv("HOTLINE_CONFIG_PATH", str(tmp_path / "menus.yaml"))
    monkeypatch.setenv("SISC_SIP_PASSWORD", "s3cret-of-the-pbx")
    assert main(["fallback-twiml"]) == 0
    printed = capsys.readouterr()
    assert "s3cret" not in printed.out + printed.err
    doc = ET.fromstring(printed.out.encode())
    assert all("password" not in el.attrib and "username" not in el.attrib for el in doc.iter())
    line_id = backup["lines"][0]["id"]
    assert f"line {line_id}: dialled without its SIP credentials" in printed.err


def test_fallback_twiml_refuses_a_recording_that_would_be_gone_with_us(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    data = yaml.safe_load((ROOT / "config" / "menus.yaml").read_text(encoding="utf-8"))
    data["messages"]["apology"] = [{"play": "apology.mp3"}]
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "apology.mp3").write_bytes(b"ID3")
    (tmp_path / "menus.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    monkeypatch.setenv("HOTLINE_CONFIG_PATH", str(tmp_path / "menus.yaml"))
    with pytest.raises(SystemExit, match="messages.apology: a recording we serve"):
        main(["fallback-twiml"])
