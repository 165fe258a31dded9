"""`seqlab dashboard` of real runs (a language model with an offline W&B record, a classifier, an
encoder-decoder with attention), opened in a real headless Chromium (Debian's, installed by
.ci/setup_browser.sh): every figure on the page loads, and the screenshot shows each of them drawn.

Set SEQLAB_KEEP_SCREENSHOT=DIR to keep the screenshot (and the page) in DIR."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread

from seqlab.cli import main
from tests.ci_services import ci_setup

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
WIDTH = 1280
# Appended to a copy of the page (the page itself has no script): once everything has loaded, record
# each image's decoded size and where it sits, and the page's size, for the test to read back.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map((img) => {
    const box = img.getBoundingClientRect();
    return {alt: img.alt, width: img.naturalWidth, height: img.naturalHeight, complete: img.complete,
            x: box.left + scrollX, y: box.top + scrollY, w: box.width, h: box.height};
  });
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({images, svgs: document.querySelectorAll("svg").length,
    height: document.documentElement.scrollHeight, viewport: innerWidth});
  document.body.append(probe);
});
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """The headless Chromium's path; skipped (with the script's reason) only where it cannot be had."""
    return ci_setup("setup_browser.sh", "headless Chromium")


def _browse(chromium: str, *options: str, page: Path) -> str:
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--force-device-scale-factor=1", "--virtual-time-budget=10000", *options, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _train(tiny_fit_args, tiny_tsv, tiny_trainer_args) -> list[str]:
    """Three short real fits; returns their run directories."""
    lm = [a for a in tiny_fit_args if not a.startswith("--run.wandb.mode")]
    main(["fit", "--config", str(CONFIGS / "generation/char_lstm.yaml"), *lm, "--run.wandb.mode=offline"])
    small = ["--model.net.hidden_size=16", "--model.net.embedding_size=8", "--data.batch_size=4"]
    main([
        "fit", "--config", str(CONFIGS / "classification/tsv_word_bigru_attention.yaml"),
        f"--data.source.train={tiny_tsv['train']}", f"--data.source.validation={tiny_tsv['validation']}",
        *small, *tiny_trainer_args,
    ])  # fmt: skip
    main([
        "fit", "--config", str(CONFIGS / "transduction/g2p_bilstm_attention.yaml"),
        "--data.source.max_words=400", *small, *tiny_trainer_args,
    ])  # fmt: skip
    return ["runs/char_lstm/version_0", "runs/tsv_word_bigru_attention", "g2p_bilstm_attention"]


@pytest.mark.slow
def test_dashboard_shows_its_figures_in_a_browser(
    chromium, tiny_fit_args, tiny_tsv, tiny_trainer_args, tmp_path, capsys
):
    """Tried: a page whose images do not decode, or that draws blank where a figure should be."""
    runs = _train(tiny_fit_args, tiny_tsv, tiny_trainer_args)
    capsys.readouterr()
    main(["dashboard", *runs, "--output", "report/dashboard.html"])  # a path, a name's dir, a name
    page = Path(capsys.readouterr().out.strip())
    text = page.read_text(encoding="utf-8")
    expected = re.findall(r'<img alt="([^"]+)"', text)
    # The report's curves, the classifier's confusion matrix and the attention heatmaps are all there.
    assert {"loss", "val/accuracy", "val/per"} <= set(expected)
    assert any(a.startswith("val_confusion_matrix, step") for a in expected)
    assert any(a.startswith("val_attention") for a in expected), expected
    assert "wandb sync " in text and "val_samples, step" in text

    probe = page.with_name("probe.html")
    probe.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _browse(chromium, "--dump-dom", f"--window-size={WIDTH},2400", page=probe)
    seen = json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)[1]))
    assert [img["alt"] for img in seen["images"]] == [html.unescape(a) for a in expected]
    for img in seen["images"]:  # decoded, and laid out at a readable size
        assert img["complete"] and img["width"] > 100 and img["w"] > 200, img
    assert seen["viewport"] == WIDTH

    # The whole page in one screenshot, then each figure's box in it: drawn, not blank.
    shot = tmp_path / "dashboard.png"
    _browse(chromium, f"--screenshot={shot}", f"--window-size={WIDTH},{seen['height']}", page=page)
    pixels = imread(shot)[..., :3]
    assert pixels.shape[1] == WIDTH and pixels.std() > 0.05
    for img in seen["images"]:
        top, left = round(img["y"]), round(img["x"])
        box = pixels[top : top + round(img["h"]), left : left + round(img["w"])]
        ink = (box.min(axis=2) < 0.8).mean()  # share of pixels that are not white or near it
        assert box.size and 0.01 < ink < 0.95 and box.std() > 0.05, (img["alt"], ink)
    if keep := os.environ.get("SEQLAB_KEEP_SCREENSHOT"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "dashboard.png")
        shutil.copy(page, Path(keep) / "dashboard.html")
