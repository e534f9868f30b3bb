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
    dials = doc.findall("Dial")
    backup = [line.target for line in cfg.org(cfg.backup_org).lines]
    assert [[n.text for n in d] for d in dials] == [[t] for t in backup]  # in turn, never at once
    assert {(d.get("timeout"), d.get("callerId")) for d in dials} == {("25", "+815055559999")}


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
