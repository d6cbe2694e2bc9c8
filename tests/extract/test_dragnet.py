"""The patched Dragnet: the shipped model loads without warnings and extracts; training is Dragnet's
own code on current numpy/scikit-learn, deterministic for a fixed seed."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np

from webtext.extract import dragnet
from webtext.extract.evaluate import load_gold, read_ids, score_pages


def test_shipped_model_loads_without_warnings_in_a_fresh_process(repo):
    code = (
        "import warnings; warnings.simplefilter('error');"
        "from webtext.extract import dragnet; m = dragnet.load_model('"
        + str(dragnet.MODELS_DIR / dragnet.MODEL_NAME)
        + "'); print(type(m).__module__, type(m).__name__, m.model.n_estimators)"
    )
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["dragnet.extractor", "Extractor", str(dragnet.N_ESTIMATORS)]
    assert out.stderr == ""


def test_model_metadata_matches_the_file():
    import hashlib

    meta = json.loads((dragnet.MODELS_DIR / dragnet.MODEL_META).read_text())
    data = (dragnet.MODELS_DIR / dragnet.MODEL_NAME).read_bytes()
    assert meta["bytes"] == len(data) and meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["trained_on"]["pages"] == 81


def test_trained_model_extracts_article_text(dev_pages):
    gold = {p.id: p.text for p in dev_pages}
    pred = {p.id: dragnet.extract_text(p.read_html()) for p in dev_pages}
    score = score_pages(gold, pred)
    assert score.f1 > 0.85, score  # a working content model, on pages it was not trained on
    # blocks come back in page order as str
    blocks = dragnet.extract_blocks(dev_pages[0].read_html())
    assert blocks and all(isinstance(b, str) and b == b.strip() for b in blocks)


def test_patched_extract_returns_str():
    html = "<html><body>" + "".join(
        f"<p>This is paragraph number {i} of a long article about the patched extractor.</p>" for i in range(10)
    ) + "</body></html>"
    model = dragnet.load_model()
    text = model.extract(html)  # Dragnet's own method, patched to join str blocks
    assert isinstance(text, str)
    assert isinstance(model.predict(np.str_(html)), np.ndarray)  # np.unicode_ -> np.str_


def test_training_is_dragnets_own_code_and_deterministic(bench, tmp_path):
    ids = sorted(read_ids(f"{bench / 'split.json'}:train"))[:8]
    dev = set(read_ids(f"{bench / 'split.json'}:dev"))
    assert not dev & set(ids)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        a = dragnet.train(bench / "ground-truth.json", bench / "html", ids, tmp_path / "a", seed=7)
        b = dragnet.train(bench / "ground-truth.json", bench / "html", ids, tmp_path / "b", seed=7)
    assert a.meta["sha256"] == b.meta["sha256"]  # same pages and seed: the same file
    assert a.meta["trained_on"]["pages"] == 8 and a.meta["seed"] == 7
    assert a.meta["block_level_on_training_pages"]["f1"] > 0.8
    model = dragnet.load_model(a.model_path)
    page = load_gold(bench / "ground-truth.json", bench / "html", ids[:1])[0]
    assert score_pages({page.id: page.text}, {page.id: dragnet.extract_text(page.read_html(), model)}).recall > 0.8


def test_gold_text_is_written_in_dragnets_layout(tmp_path):
    dragnet._patch()
    from dragnet.data_processing import read_gold_standard_file, read_html_file

    dragnet.write_training_layout([("p1", "<html><body><p>Body text</p></body></html>", "Body text")], tmp_path)
    assert read_html_file(str(tmp_path), "p1").startswith("<html>")
    assert read_gold_standard_file(str(tmp_path), "p1") == ["Body text", ""]  # content, no comments
