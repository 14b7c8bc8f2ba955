"""docs/python.md's example runs as written, against a tiny checkpoint trained here."""

import re
import shutil
from pathlib import Path

from conftest import tiny_speech_config
from separation.train import train

DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_python_api_example_runs(speech_corpus, tmp_path, monkeypatch, capsys):
    blocks = _python_blocks(DOC.read_text())
    assert len(blocks) == 1, "docs/python.md should hold one runnable example"
    trained = train(tiny_speech_config(speech_corpus, tmp_path / "trained", **{"trainer.max_epochs": 1}), test=False)
    checkpoint = Path(trained.run_dir) / "best.ckpt"
    assert checkpoint.exists()
    work = tmp_path / "work"
    (work / "runs" / "svoice_cpu").mkdir(parents=True)
    shutil.copy(checkpoint, work / "runs" / "svoice_cpu" / "best.ckpt")  # where the example looks
    monkeypatch.chdir(work)
    exec(compile(blocks[0], str(DOC), "exec"), {"__name__": "docs_python_example"})
    printed = capsys.readouterr().out
    assert "svoice for speech at 8000 Hz" in printed
    assert (work / "separated" / "meeting" / "s1.wav").exists()
    assert (work / "separated" / "meeting" / "s2.wav").exists()
